"""DVC stage ``tokens@<dataset>``: tokenise a training dataset once into a memory-mapped token stream
(``interplay.tokens``) -> data/tokens/<dataset>/.

python stages/tokens.py pretrain
"""

import os
import sys
import time
from pathlib import Path

from interplay import inputs, jobs, params, tokens
from interplay.runtime import run_stage, threads_override

TOKENIZER = Path("data/tokenizer/tokenizer.json")


def main(name: str) -> None:
    jobs.tokens(params.load(), name)
    data_path = Path(f"data/datasets/{name}.parquet")
    inputs.parquet_schema(data_path, f"dataset '{name}'", ["text"])  # readable, with a text column
    tok = inputs.tokenizer(TOKENIZER)
    t0 = time.perf_counter()
    # the files are the same bytes at any worker count: every core (the runner's lane threads under it)
    workers = threads_override(os.cpu_count() or 1)
    meta = tokens.build(data_path, tok, Path(f"data/tokens/{name}"), workers=workers)
    procs = len(tokens.shares(data_path, workers))  # no more processes than row groups
    seconds = time.perf_counter() - t0
    print(
        f"tokens@{name}: {meta['n_docs']:,} documents, {meta['n_tokens']:,} tokens ({meta['dtype']}) in "
        f"{seconds:.1f} s ({meta['n_tokens'] / max(seconds, 1e-9):,.0f} tokens/s, {procs} process(es))"
    )


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"tokens@{sys.argv[1]}")
