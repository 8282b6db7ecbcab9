"""DVC stages ``pretrain@<run>`` and ``midtrain@<run>``: next-token training of one declared run.

python stages/train.py pretrain base
"""

import sys
from pathlib import Path

from interplay import dist as D
from interplay import inputs, jobs, packing, params, runs
from interplay import model as M
from interplay.checkpoint import RunPaths, fingerprint
from interplay.io import write_json
from interplay.runtime import run_stage, set_threads
from interplay.train import train

TOKENIZER = Path("data/tokenizer/tokenizer.json")


def main(phase: str, name: str) -> None:
    p = params.load()
    job = jobs.train(p, phase, name)
    cfg, key = job.cfg, f"{phase}.{name}"
    runs.declared_training_dataset(p, cfg.dataset, f"{key}.dataset")
    init_dir = runs.check_init(p, cfg.init, f"{key}.init")
    tok = inputs.tokenizer(TOKENIZER)
    model_cfg = M.config_from_params(dict(job.model), tok.get_vocab_size())
    if init_dir is not None:
        init_cfg = inputs.checkpoint(init_dir)
        params.need(
            init_cfg == model_cfg,
            f"{key}.init",
            f"checkpoint {init_dir} has config {init_cfg}, params.yaml model gives {model_cfg}",
        )
    set_threads(cfg.threads)

    stream_dir = Path("data/tokens") / cfg.dataset
    if not (stream_dir / "meta.json").exists():
        raise FileNotFoundError(
            f"{stream_dir}: token stream of '{cfg.dataset}' not built; run tokens@{cfg.dataset}"
        )
    stream = inputs.token_stream(stream_dir, TOKENIZER)
    params.need(len(stream) > 0, f"{key}.dataset", f"dataset '{cfg.dataset}' is empty")
    blocks = packing.StreamBlocks.pack(stream, cfg.seq_len, cfg.loss_on)  # the plan; tokens stay on disk
    params.need(
        len(blocks) > 0,
        f"{key}.seq_len",
        f"no document of '{cfg.dataset}' fits in {cfg.seq_len} tokens",
    )
    print(
        f"{phase}@{name}: {blocks.n_docs} of {len(stream)} documents -> {len(blocks)} blocks of "
        f"{cfg.seq_len} "
        f"(fill {blocks.fill:.3f}, {blocks.n_dropped} longer than seq_len dropped); {cfg.steps} steps"
    )
    files = [stream_dir / "meta.json", TOKENIZER] + (
        [] if init_dir is None else [init_dir / "model.safetensors"]
    )
    fp = fingerprint(files=tuple(files))
    paths = RunPaths(runs.model_dir(name), runs.resume_dir(name), Path("reports/train") / name, TOKENIZER)
    result = train(cfg, model_cfg, blocks, paths, init_dir=init_dir, inputs_fingerprint=fp)
    # what the model is, not how fast or in how many segments it was made: the directory's bytes are
    # the same on every rerun, so a stage rebuilt on a fresh machine matches dvc.lock (speed and wall
    # time: reports/train/<run>/metrics.json)
    summary = {
        "phase": phase,
        "run": name,
        "dataset": cfg.dataset,
        "init": cfg.init,
        "steps": result.steps,
        "tokens": result.tokens_seen,
        "real_tokens": result.real_tokens,
        "final_loss": round(result.final_loss, 4),
        "flops_6PT": result.flops,
        "params_non_embedding": model_cfg.n_params(embedding=False),
    }
    if D.is_main_process():
        write_json(runs.model_dir(name) / "train_summary.json", summary)
        print({**summary, "seconds": round(result.seconds, 1), "resumed_from_step": result.resumed_from})
    D.cleanup()


if __name__ == "__main__":
    run_stage(main, sys.argv[1], sys.argv[2], stage=f"{sys.argv[1]}@{sys.argv[2]}")
