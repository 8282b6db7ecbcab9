"""Training throughput / MFU and sampler throughput vs naive recompute and HF `generate`.

    python benchmarks/bench_model.py [--threads 2]
    python benchmarks/bench_model.py --real data/models/base [--rounds 3]

Each measurement runs in its own process so its peak memory (max RSS) is its own; only the
generation itself is timed (models are built before the clock starts). The model shape is
params.yaml's `model` section (vocab 2,304 unless a tokenizer exists). ``--real`` is the evaluation
workload on a trained checkpoint: ours and HF in one process, loaded and warmed up first, then
alternating timed rounds (``real_workload``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import yaml


def model_config(vocab: int | None = None):
    """params.yaml's model shape (vocab from the built tokenizer, else 2,304) and the params."""
    from interplay import model as M

    p = yaml.safe_load(Path("params.yaml").read_text())
    if vocab is None:
        from interplay.tokenizer import load

        tj = Path("data/tokenizer/tokenizer.json")
        vocab = load(tj).get_vocab_size() if tj.exists() else 2304
    return M.config_from_params(p["model"], vocab), p


def train_step(cfg, batch: int, seq: int, compile_model: bool = False):
    """One training step (forward, loss, backward, AdamW) on fixed random tokens, as a closure."""
    import torch
    import torch.nn.functional as F

    from interplay import model as M

    torch.manual_seed(0)
    m = M.Qwen2(cfg)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, foreach=False)
    fwd = torch.compile(m) if compile_model else m  # inductor: the first steps compile (warm-up)
    idx = torch.randint(0, cfg.vocab_size, (batch, seq))

    def step() -> None:
        loss = F.cross_entropy(fwd(idx).view(-1, cfg.vocab_size), idx.roll(-1, 1).view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _train(q, threads: int, batch: int, seq: int, steps: int, compile_model: bool = False) -> None:
    import torch

    from interplay.compute import flops_per_token
    from interplay.train import CPU_PEAK_FLOPS_PER_THREAD

    torch.set_num_threads(threads)
    cfg, _ = model_config()
    step = train_step(cfg, batch, seq, compile_model)
    times = []
    warmup = 4 if compile_model else 2
    for i in range(steps + warmup):
        t = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    tps = batch * seq / (sum(times) / len(times))
    q.put(
        {
            "params": cfg.n_params(),
            "tok_s": tps,
            "mfu": tps * flops_per_token(cfg, seq) / (CPU_PEAK_FLOPS_PER_THREAD * threads),
            "flops_s": tps * flops_per_token(cfg, seq),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _hf_generate(hf, prompts, n: int, new: int, **stopping) -> list:
    """HF ``generate`` with our sampling settings (T = 0.7, no top-k / top-p), n samples per prompt."""
    import torch

    outs = []
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([p])
            outs.append(
                hf.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=True,
                    temperature=0.7,
                    top_p=1.0,
                    top_k=0,
                    max_new_tokens=new,
                    num_return_sequences=n,
                    **stopping,
                )
            )
    return outs


def _sample(q, threads: int, kind: str, n: int, prompt_len: int, new: int, problems: int) -> None:
    import torch

    from interplay import model as M
    from interplay.sampling import generate

    torch.set_num_threads(threads)
    cfg, _ = model_config()
    torch.manual_seed(0)
    m = M.Qwen2(cfg).eval()
    prompts = [torch.randint(10, cfg.vocab_size, (prompt_len,)).tolist() for _ in range(problems)]
    if kind == "hf":  # built before the clock starts: the import and the copy are not generation
        from transformers import Qwen2Config, Qwen2ForCausalLM

        from interplay.model import state_for_save

        hf = Qwen2ForCausalLM(
            Qwen2Config(
                **{k: v for k, v in cfg.to_hf(2, 3, 1).items() if k not in ("interplay", "architectures")}
            )
        ).eval()
        hf.load_state_dict({**state_for_save(m), "lm_head.weight": m.lm_head.weight}, strict=False)
    t = time.perf_counter()
    if kind == "ours":
        generate(m, prompts, n, temperature=0.7, max_new_tokens=new, stop_ids=(), batch_rows=512)
        made = problems * n * new
    elif kind == "naive":  # full recompute each step, no cache; a few steps, extrapolated per token
        with torch.no_grad():
            x = torch.tensor(prompts[0]).repeat(n, 1)
            steps = 8
            for _ in range(steps):
                logits = m(x)[:, -1]
                x = torch.cat([x, torch.multinomial(torch.softmax(logits / 0.7, -1), 1)], 1)
        made = n * steps
        # the full generation would attend over longer prefixes: this overstates naive speed
    else:
        _hf_generate(hf, prompts, n, new, min_new_tokens=new, pad_token_id=1, eos_token_id=None)
        made = problems * n * new
    dt = time.perf_counter() - t
    q.put({"tok_s": made / dt, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def eval_prompts(model_dir: str, dataset: str, per_op: int, ops: list[int]):
    """The evaluation workload's inputs: the first ``per_op`` prompts of each op in ``ops``, encoded
    with the checkpoint's tokenizer; returns (prompts, problem keys, stop token ids)."""
    import polars as pl
    from tokenizers import Tokenizer

    from interplay.evaluate import ANSWER_END, problem_key
    from interplay.tokenizer import EOS

    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    stop = [tok.token_to_id(ANSWER_END), EOS]
    df = (
        pl.read_parquet(dataset)
        .filter(pl.col("op").is_in(ops))
        .group_by("op", maintain_order=True)
        .head(per_op)
    )
    prompts = [e.ids for e in tok.encode_batch(df["prompt"].to_list())]
    return prompts, [problem_key(u) for u in df["uid"]], stop


def sample_ours(model, prompts, keys, stop) -> int:
    """Our sampler on the evaluation workload (128 samples, T = 0.7, up to 256 new tokens, stopping
    at </answer>); returns the tokens generated."""
    from interplay.sampling import generate

    outs = generate(
        model, prompts, 128, temperature=0.7, max_new_tokens=256, stop_ids=stop, seed=0, problem_keys=keys
    )
    return sum(len(s) for o in outs for s in o.tokens)


def real_workload(model_dir: str, dataset: str, per_op: int, ops: list[int], rounds: int) -> dict:
    """The evaluation workload: a trained checkpoint, real prompts, 128 samples stopping at
    </answer>, ours against HF ``generate`` on the same weights. Both models are loaded and each
    sampler runs once as a warm-up before any clock starts (loading, imports and first-call set-up
    are not generation); then ``rounds`` alternating rounds, so a drifting machine slows both alike.
    Returns each sampler's generated tokens and median seconds."""
    import statistics

    from transformers import Qwen2ForCausalLM

    from interplay import model as M

    prompts, keys, stop = eval_prompts(model_dir, dataset, per_op, ops)
    ours_model = M.load(model_dir).eval()
    hf = Qwen2ForCausalLM.from_pretrained(model_dir).eval()

    def ours() -> int:
        return sample_ours(ours_model, prompts, keys, stop)

    def theirs() -> int:
        made = 0
        for p, seqs in zip(
            prompts, _hf_generate(hf, prompts, 128, 256, eos_token_id=stop, pad_token_id=stop[0])
        ):
            for row in seqs[:, len(p) :].tolist():  # up to and including the first stop token
                made += next((i + 1 for i, x in enumerate(row) if x in stop), len(row))
        return made

    samplers = {"ours": ours, "hf": theirs}
    for fn in samplers.values():  # warm-up
        fn()
    res: dict[str, dict] = {k: {"seconds": [], "tokens": []} for k in samplers}
    for _ in range(rounds):
        for k, fn in samplers.items():
            t = time.perf_counter()
            made = fn()
            res[k]["seconds"].append(time.perf_counter() - t)
            res[k]["tokens"].append(made)
    out = {}
    for k, r in res.items():
        sec = statistics.median(r["seconds"])
        tokens = statistics.median(r["tokens"])
        out[k] = {"tok_s": tokens / sec, "tokens": int(tokens), "seconds": sec, "all": r["seconds"]}
    return out


def _peak(q, threads: int) -> None:
    """Measured fp32 peak: the best of a few large sgemms (what MKL reaches on this machine)."""
    import torch

    torch.set_num_threads(threads)
    q.put({"flops_s": peak_flops()})


def peak_flops() -> float:
    """FLOP/s of the fastest of 6 sgemms 2048^3 at the current thread count."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = 0.0
    for _ in range(6):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 2048**3 / (time.perf_counter() - t))
    return best


def run(fn, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(q, *args))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--prompt-len", type=int, default=160)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--compile", action="store_true", help="also time training under torch.compile")
    ap.add_argument(
        "--real",
        metavar="MODEL_DIR",
        help="only the evaluation workload: this checkpoint, real prompts (data/datasets/eval.parquet, "
        "2 per op 2-8), stop at </answer>, ours vs HF, loaded and warmed up before timing",
    )
    ap.add_argument("--rounds", type=int, default=3, help="with --real: alternating timed rounds")
    args = ap.parse_args()
    if args.real:
        import torch

        torch.set_num_threads(args.threads)
        res = real_workload(args.real, "data/datasets/eval.parquet", 2, list(range(2, 9)), args.rounds)
        for k, r in res.items():
            rounds = ", ".join(f"{x:.1f}" for x in r["all"])
            print(
                f"| evaluation workload ({k}) | {r['tok_s']:,.0f} generated tok/s | {r['tokens']:,} tokens "
                f"in {r['seconds']:.2f} s (median; rounds {rounds} s) |"
            )
        print(
            "speed-up vs HF generate on the evaluation workload: "
            f"{res['ours']['tok_s'] / res['hf']['tok_s']:.2f}x"
        )
        return
    cfg, p = model_config()
    td = p["train_defaults"]
    print(f"model {cfg.n_layer}x{cfg.d_model} ({cfg.n_params():,} params), {args.threads} threads")
    from interplay.train import CPU_PEAK_FLOPS_PER_THREAD

    peak = run(_peak, args.threads)["flops_s"]
    print(
        f"fp32 peak (sgemm 2048^3): {peak / 1e9:.0f} GFLOP/s measured now; "
        f"{CPU_PEAK_FLOPS_PER_THREAD * args.threads / 1e9:.0f} GFLOP/s assumed by the trainer"
    )
    for label, compiled in (("training", False), ("training, torch.compile", True)):
        if compiled and not args.compile:
            continue
        r = run(_train, args.threads, td["batch_size"], td["seq_len"], 8, compiled)
        print(
            f"| {label} | {r['tok_s']:,.0f} tok/s | {r['flops_s'] / 1e9:.0f} GFLOP/s | "
            f"MFU {r['flops_s'] / peak:.0%} of the measured peak | peak RSS {r['maxrss_mb']:,.0f} MB |"
        )
    res = {}
    for kind in ("ours", "hf", "naive"):
        res[kind] = run(
            _sample,
            args.threads,
            kind,
            args.n,
            args.prompt_len,
            args.new,
            args.problems if kind != "naive" else 1,
        )
        print(
            f"| sampling ({kind}) | {res[kind]['tok_s']:,.0f} generated tok/s | n={args.n}, prompt "
            f"{args.prompt_len}, {args.new} new | peak RSS {res[kind]['maxrss_mb']:,.0f} MB |"
        )
    print(
        f"speed-up vs HF generate: {res['ours']['tok_s'] / res['hf']['tok_s']:.1f}x; "
        f"vs naive recompute (first 8 steps only): {res['ours']['tok_s'] / res['naive']['tok_s']:.1f}x"
    )


if __name__ == "__main__":
    main()
