"""DVC stage ``tokenizer``: a saturated byte-level BPE trained on the listed datasets + the lexicon."""

from pathlib import Path

import pyarrow.parquet as pq

from interplay import params, tokenizer
from interplay.runtime import run_stage


def main() -> None:
    p = params.load()
    cfg = params.section(p, "tokenizer")
    params.check_keys(cfg, "tokenizer", {"datasets", "vocab_size"}, {"datasets"})
    names = cfg["datasets"]
    params.need(isinstance(names, list) and names, "tokenizer.datasets", "expected a non-empty list")
    declared = p.get("datasets", {})
    for n in names:
        params.need(n in declared, "tokenizer.datasets", f"'{n}' is not declared under datasets")
    vocab_size = params.as_int(cfg.get("vocab_size", 4096), "tokenizer.vocab_size", lo=300)
    paths = [f"data/datasets/{n}.parquet" for n in names]
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: dataset file missing (run its generate stage)")

    def texts():
        for path in paths:
            yield from pq.read_table(path, columns=["text"]).column("text").to_pylist()

    style = (p.get("task") or {}).get("names", "natural")
    tok = tokenizer.train(texts(), vocab_size=vocab_size, style=style)
    tokenizer.save(tok, "data/tokenizer/tokenizer.json")
    print(f"tokenizer: {tok.get_vocab_size()} tokens (requested {vocab_size})")


if __name__ == "__main__":
    run_stage(main)
