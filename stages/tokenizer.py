"""DVC stage ``tokenizer``: a saturated byte-level BPE trained on the listed datasets + the lexicon."""

from pathlib import Path

from interplay import inputs, jobs, params, tokenizer
from interplay.runtime import run_stage


def main() -> None:
    job = jobs.tokenizer(params.load())
    path = Path(f"data/datasets/{job.dataset}.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset file missing (run generate@{job.dataset})")
    texts = inputs.parquet(path, f"dataset '{job.dataset}'", ["text"])["text"].to_list()
    tok = tokenizer.train(texts, vocab_size=job.vocab_size, style=job.style, max_number=job.max_number)
    tokenizer.save(tok, "data/tokenizer/tokenizer.json")
    print(f"tokenizer: {tok.get_vocab_size()} tokens (requested {job.vocab_size}), names={job.style}")


if __name__ == "__main__":
    run_stage(main, stage="tokenizer")
