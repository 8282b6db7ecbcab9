"""DVC stages ``rl@<run>`` and ``rl_calibrated@<run>``: GRPO from a pre- or mid-trained model.

python stages/rl.py runs rl_op11-14
python stages/rl.py calibrated rl_edge      # prompt ops from reports/calibrate.json
"""

import dataclasses
import sys
from pathlib import Path

from interplay import dist as D
from interplay import inputs, jobs, params, rl, runs
from interplay.checkpoint import RunPaths, fingerprint
from interplay.compute import rl_step_token_equivalent
from interplay.io import write_json
from interplay.runtime import run_stage, set_threads


def main(group: str, name: str) -> None:
    p = params.load()
    key = f"rl.{group}.{name}"
    calibrated = None
    if group == "calibrated":
        jobs.rl(p, group, name)  # params alone, before the calibration file is read
        cal = Path("reports/calibrate.json")
        if not cal.exists():
            raise FileNotFoundError(f"{cal}: no calibration ({key} uses calibrated ops); run 'calibrate'")
        calibrated = inputs.json_file(cal, "calibration")
    job = jobs.rl(p, group, name, calibrated)
    cfg, entry = job.cfg, (p["rl"][group] or {})[name]

    def where(field: str) -> str:  # the key the user edited: the run's entry, else rl.defaults
        return f"{key}.{field}" if field in entry else f"rl.defaults.{field}"

    data_path = runs.check_training_dataset(p, cfg.dataset, f"{key}.dataset")
    init_dir = runs.check_init(p, cfg.init, f"{key}.init")
    set_threads(cfg.threads)
    init_cfg = inputs.checkpoint(init_dir)  # checked before the prompt pool is read and tokenised
    positions = init_cfg.max_seq_len
    params.need(
        cfg.max_new_tokens == rl.AUTO or cfg.max_new_tokens < positions,
        where("max_new_tokens"),
        f"{cfg.max_new_tokens} leaves no room for a prompt in the model's {positions} positions",
    )
    tok = inputs.tokenizer(init_dir / "tokenizer.json")
    pool = inputs.prompt_pool(data_path, f"dataset '{cfg.dataset}'", tok, cfg.ops)  # read on demand
    cfg = rl.resolve_max_new(cfg, pool, positions, where("max_new_tokens").rsplit(".", 1)[0])
    params.need(
        cfg.prompts_per_step <= len(pool),
        where("prompts_per_step"),
        f"{cfg.prompts_per_step} is more than the {len(pool)} prompts of dataset '{cfg.dataset}'"
        + (f" at ops {sorted(set(pool.ops.tolist()))}" if cfg.ops else ""),
    )
    filter_cost = 0.0  # token-equivalents the prompt filter spent sampling this run's pool
    if job.budget is not None:  # compute-matched split (paper §5): RL gets beta * T token-equivalents
        total, beta = job.budget
        if cfg.dataset in ((p.get("filter") or {}).get("runs") or {}):  # the arm pays for its filter
            report = Path(f"reports/filter/{cfg.dataset}.json")
            cost = (inputs.json_file(report, "filter report") or {}).get("token_equivalent")
            if not isinstance(cost, (int, float)):
                raise ValueError(f"{report}: damaged (no token_equivalent); rerun filter@{cfg.dataset}")
            filter_cost = float(cost)
        seq_cap = rl.rollout_length(pool, cfg.max_new_tokens, positions)
        per_step = rl_step_token_equivalent(
            cfg.prompts_per_step, cfg.rollouts, seq_cap, 1.0 if cfg.kl_coef > 0 else 0.0
        )
        steps = rl.budget_steps(total, beta, per_step, filter_cost, f"{key}.budget")
        cfg = dataclasses.replace(cfg, steps=steps)
    print(
        f"rl@{name}: {len(pool)} prompts (ops {sorted(set(pool.ops.tolist()))}), init {cfg.init}, "
        f"{cfg.steps} steps x {cfg.prompts_per_step} prompts x {cfg.rollouts} rollouts, reward {cfg.reward}"
    )
    paths = RunPaths(
        runs.model_dir(name),
        runs.resume_dir(name),
        Path("reports/train") / name,
        init_dir / "tokenizer.json",
    )
    fp = fingerprint(files=(data_path, init_dir / "model.safetensors"))
    summary = rl.run(cfg, pool, tok, init_dir, paths, inputs_fingerprint=fp)
    if D.is_main_process():
        summary["filter_token_equivalent"] = filter_cost
        # no wall time in the model's directory: its bytes are the same on every rerun (the time is in
        # reports/train/<run>/metrics.json)
        kept = {k: v for k, v in summary.items() if k != "wall_seconds"}
        write_json(runs.model_dir(name) / "train_summary.json", {"phase": "rl", "run": name, **kept})
        print({k: summary[k] for k in ("steps", "wall_seconds", "final/reward/mean")})
    D.cleanup()


if __name__ == "__main__":
    group, name = sys.argv[1], sys.argv[2]
    run_stage(main, group, name, stage=f"{'rl' if group == 'runs' else 'rl_calibrated'}@{name}")
