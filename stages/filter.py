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
    pool = inputs.parquet(data_path, f"dataset '{cfg.dataset}'")
    params.need(pool.height > 0, f"{key}.dataset", f"dataset '{cfg.dataset}' is empty")
    gold = tok.encode_batch([" " + t.split("<solution>", 1)[1] for t in pool["text"]])
    max_new = PF.max_new_tokens(cfg, [len(e.ids) for e in gold], model_cfg.max_seq_len)
    prompt_tokens = sum(len(e.ids) for e in tok.encode_batch(pool["prompt"].to_list()))
    model = inputs.model(model_path, device).eval()
    print(
        f"filter@{name}: {cfg.model} on {cfg.dataset}: {pool.height} prompts x {cfg.samples} samples "
        f"(T={cfg.temperature}, up to {max_new} new tokens), keep {cfg.keep}"
    )
    scored = E.run_sharded(model, tok, pool, PF.eval_config(cfg, max_new), device, dd)
    if not dd.main:
        return D.cleanup(dd)
    kept = PF.apply(pool, scored, cfg)
    report = PF.summary(pool, kept, scored, cfg, prompt_tokens)
    report["max_new_tokens"] = max_new
    report["seconds"] = round(float(scored["eval_seconds"][0]), 1)
    with atomic_path(Path(f"data/datasets/{name}.parquet")) as tmp:
        kept.write_parquet(tmp)
    write_json(f"reports/filter/{name}.json", report)
    print({k: report[k] for k in ("prompts", "kept", "mixed", "seconds")})
    D.cleanup(dd)


if __name__ == "__main__":
    run_stage(main, sys.argv[1], stage=f"filter@{sys.argv[1]}")
