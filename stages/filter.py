"""DVC stage ``filter@<name>``: sample a model k times on an RL prompt pool and keep the prompts it
solves sometimes but not always (``interplay.prompt_filter``).

python stages/filter.py rl_pool_mixed

Outputs: data/datasets/<name>.parquet (the kept rows, an RL dataset like any other, with the count
``filter_correct``), reports/filter/<name>.json (per op: prompts, kept, all-fail, all-pass; the
sampling's token-equivalents).
"""

import sys
from pathlib import Path

from interplay import dist as D
from interplay import evaluate as E
from interplay import inputs, jobs, params, runs
from interplay import prompt_filter as PF
from interplay.io import atomic_path, write_json
from interplay.runtime import run_stage, set_threads


def main(name: str) -> None:
    p = params.load()
    cfg = jobs.prompt_filter(p, name).cfg
    key = f"filter.runs.{name}"
    data_path = runs.check_training_dataset(p, cfg.dataset, f"{key}.dataset")
    model_path = runs.model_dir(cfg.model)
    set_threads(cfg.threads)
    device = E.tensor_device(cfg.device)
    dd = D.setup(device.type)
    device = D.device_for(dd, device)
    model_cfg = inputs.checkpoint(model_path)  # every input checked before the model is loaded
    tok = inputs.tokenizer(model_path / "tokenizer.json")
    inputs.parquet_schema(data_path, f"dataset '{cfg.dataset}'", ["prompt", "text", "uid", "op"])
    n, prompt_tokens, longest = PF.scan(data_path, tok)
    params.need(n > 0, f"{key}.dataset", f"dataset '{cfg.dataset}' is empty")
    max_new = PF.max_new_tokens(cfg, [longest], model_cfg.max_seq_len)
    model = inputs.model(model_path, device).eval()
    print(
        f"filter@{name}: {cfg.model} on {cfg.dataset}: {n} prompts x {cfg.samples} samples "
        f"(T={cfg.temperature}, up to {max_new} new tokens), keep {cfg.keep}"
    )
    if not dd.main:  # only rank 0 writes
        PF.run(data_path, None, model, tok, cfg, max_new, device, dd)
        return D.cleanup(dd)
    with atomic_path(Path(f"data/datasets/{name}.parquet")) as tmp:
        scored, seconds = PF.run(data_path, tmp, model, tok, cfg, max_new, device, dd)
    report = PF.summary(scored, seconds, cfg, prompt_tokens)
    report["max_new_tokens"] = max_new
    write_json(f"reports/filter/{name}.json", report)
    print({k: report[k] for k in ("prompts", "kept", "mixed", "seconds")})
    D.cleanup(dd)


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"filter@{sys.argv[1]}")
