"""DVC stage ``tokenizer``: a saturated byte-level BPE trained on the listed datasets + the lexicon."""

from pathlib import Path

from interplay import inputs, params, tokenizer
from interplay.runtime import run_stage


def main() -> None:
    p = params.load()
    cfg = params.section(p, "tokenizer")
    params.check_keys(cfg, "tokenizer", {"dataset", "vocab_size"}, {"dataset"})
    name = cfg["dataset"]
    params.need(
        name in (p.get("datasets") or {}), "tokenizer.dataset", f"'{name}' is not declared under datasets"
    )
    vocab_size = params.as_int(cfg.get("vocab_size", 4096), "tokenizer.vocab_size", lo=300)
    path = Path(f"data/datasets/{name}.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset file missing (run generate@{name})")
    texts = inputs.parquet(path, f"dataset '{name}'", ["text"])["text"].to_list()
    task = p.get("task") or {}
    style = task.get("names", "natural")
    # numbers the task can print: 0..modulus-1 with modular arithmetic, else 0..1000
    max_number = int(task["modulus"]) - 1 if task.get("modulus") else 1000
    tok = tokenizer.train(texts, vocab_size=vocab_size, style=style, max_number=max_number)
    tokenizer.save(tok, "data/tokenizer/tokenizer.json")
    print(f"tokenizer: {tok.get_vocab_size()} tokens (requested {vocab_size}), names={style}")


if __name__ == "__main__":
    run_stage(main, stage="tokenizer")
