"""DVC stages ``pretrain@<run>`` and ``midtrain@<run>``: next-token training of one declared run.

python stages/train.py pretrain base
"""

import sys
from pathlib import Path

from interplay import dist as D
from interplay import inputs, packing, params, runs
from interplay import model as M
from interplay.compute import budget_from_params
from interplay.io import write_json
from interplay.runtime import run_stage, set_threads
from interplay.train import RunPaths, config_from_params, fingerprint, train

TOKENIZER = Path("data/tokenizer/tokenizer.json")


def main(phase: str, name: str) -> None:
    p = params.load()
    params.need(phase in ("pretrain", "midtrain"), "phase", f"unknown phase '{phase}'")
    runs.all_runs(p)
    section = params.section(p, phase)
    params.need(name in section, f"{phase}.{name}", f"run not declared (known: {', '.join(section)})")
    entry = dict(section[name])
    budget = entry.pop("budget", None)
    if budget is not None:  # compute-matched split (paper §5): mid-training gets (1 - beta) T tokens
        total, beta = budget_from_params(budget, f"{phase}.{name}.budget")
        params.need(beta < 1.0, f"{phase}.{name}.budget.beta", "beta = 1 leaves no mid-training")
        entry["tokens"] = max(1, round((1.0 - beta) * total))
    cfg = config_from_params(entry, f"{phase}.{name}", p.get("train_defaults") or {})
    data_path = runs.check_training_dataset(p, cfg.dataset, f"{phase}.{name}.dataset")
    init_dir = runs.check_init(p, cfg.init, f"{phase}.{name}.init")
    params.need(
        phase == "pretrain" or init_dir is not None,
        f"{phase}.{name}.init",
        "mid-training needs an init model",
    )
    tok = inputs.tokenizer(TOKENIZER)
    model_cfg = M.config_from_params(p.get("model") or {}, tok.get_vocab_size())
    params.need(
        cfg.seq_len <= model_cfg.max_seq_len,
        f"{phase}.{name}.seq_len",
        f"{cfg.seq_len} exceeds model.max_seq_len {model_cfg.max_seq_len}",
    )
    if init_dir is not None:
        init_cfg = inputs.checkpoint(init_dir)
        params.need(
            init_cfg == model_cfg,
            f"{phase}.{name}.init",
            f"checkpoint {init_dir} has config {init_cfg}, params.yaml model gives {model_cfg}",
        )
    set_threads(cfg.threads)

    texts = inputs.parquet(data_path, f"dataset '{cfg.dataset}'", ["text"])["text"].to_list()
    params.need(len(texts) > 0, f"{phase}.{name}.dataset", f"dataset '{cfg.dataset}' is empty")
    blocks = packing.pack(packing.encode(tok, texts, cfg.loss_on), cfg.seq_len)
    params.need(
        len(blocks) > 0,
        f"{phase}.{name}.seq_len",
        f"no document of '{cfg.dataset}' fits in {cfg.seq_len} tokens",
    )
    print(
        f"{phase}@{name}: {len(texts)} documents -> {len(blocks)} blocks of {cfg.seq_len} "
        f"(fill {blocks.fill:.3f}, {blocks.n_dropped} longer than seq_len dropped); {cfg.steps} steps"
    )
    files = [data_path, TOKENIZER] + ([] if init_dir is None else [init_dir / "model.safetensors"])
    fp = fingerprint(files=tuple(files))
    paths = RunPaths(
        runs.model_dir(name), Path("data/resume") / name, Path("reports/train") / name, TOKENIZER
    )
    result = train(cfg, model_cfg, blocks, paths, init_dir=init_dir, inputs_fingerprint=fp)
    summary = {
        "phase": phase,
        "run": name,
        "dataset": cfg.dataset,
        "init": cfg.init,
        "steps": result.steps,
        "tokens": result.tokens_seen,
        "real_tokens": result.real_tokens,
        "seconds": round(result.seconds, 1),
        "tokens_per_s": round(result.tok_per_s, 1),
        "mfu": round(result.mfu, 4),
        "final_loss": round(result.final_loss, 4),
        "flops_6PT": result.flops,
        "params_non_embedding": model_cfg.n_params(embedding=False),
        "resumed_from_step": result.resumed_from,
    }
    if D.is_main_process():
        write_json(runs.model_dir(name) / "train_summary.json", summary)
        print(summary)
    D.cleanup()


if __name__ == "__main__":
    run_stage(main, sys.argv[1], sys.argv[2], stage=f"{sys.argv[1]}@{sys.argv[2]}")
