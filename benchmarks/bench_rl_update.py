"""The RL update's scoring, each prompt computed once (``interplay.prefix``) against every sequence
scored whole, side by side in one process (rounds alternate the two).

    python benchmarks/bench_rl_update.py [--init data/models/base] [--dataset data/datasets/rl_edge.parquet]

One GRPO step's rollouts: ``rl.defaults``' prompts per step and rollouts per prompt, sampled from the
model at temperature 1 on the dataset's first prompts. Each variant scores the step's mini-batches
as the update does: a no-grad forward (the reference model's log-probs), then a forward and backward
through the policy. "whole sequences" is the scoring before the shared prompt: right-padded
prompt + completion rows, the LM head from the shortest prompt on. It prints each variant's median
seconds and the token slots its forward runs through the model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import polars as pl
import torch
import torch.nn.functional as F
import yaml
from tokenizers import Tokenizer

from interplay import model as M
from interplay.evaluate import ANSWER_END
from interplay.prefix import SharedPrefix, completion_logprobs
from interplay.sampling import generate
from interplay.tokenizer import EOS, PAD


def whole_sequences(model, seqs) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Log-probs of the completion tokens, each row its prompt + completion, right-padded."""
    T = max(len(p) + len(c) for p, c in seqs)
    start = min(len(p) for p, _ in seqs) - 1
    ids = torch.full((len(seqs), T), PAD, dtype=torch.long)
    mask = torch.zeros(len(seqs), T - 1, dtype=torch.bool)
    for i, (p, c) in enumerate(seqs):
        ids[i, : len(p) + len(c)] = torch.tensor(p + c)
        mask[i, len(p) - 1 : len(p) + len(c) - 1] = True
    logp = F.log_softmax(model(ids[:, :-1], logits_from=start).float(), -1)
    return logp.gather(-1, ids[:, start + 1 :, None])[..., 0], mask[:, start:], ids.numel()


def shared_prompt(model, seqs) -> tuple[torch.Tensor, torch.Tensor, int]:
    b = SharedPrefix.build(seqs, PAD, "cpu")
    return completion_logprobs(model, b)[0], b.mask, b.idx.numel()


def score_step(model, chunks, variant) -> int:
    """A reference-model forward, then the policy's forward and backward, per mini-batch."""
    slots = 0
    for seqs in chunks:
        with torch.no_grad():
            variant(model, seqs)
        lp, mask, n = variant(model, seqs)
        (lp * mask).sum().backward()
        slots += n
    model.zero_grad(set_to_none=True)
    return slots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default="data/models/base")
    ap.add_argument("--dataset", default="data/datasets/rl_edge.parquet")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = yaml.safe_load(Path("params.yaml").read_text())["rl"]["defaults"]
    n_prompts, n_roll, n_mini = d["prompts_per_step"], d["rollouts"], d["mini_batches"]
    tok = Tokenizer.from_file(f"{args.init}/tokenizer.json")
    model = M.load(args.init)
    prompts = [e.ids for e in tok.encode_batch(pl.read_parquet(args.dataset)["prompt"][:n_prompts].to_list())]
    outs = generate(
        model,
        prompts,
        n_roll,
        temperature=1.0,
        max_new_tokens=200,
        stop_ids=[tok.token_to_id(ANSWER_END), EOS],
        seed=0,
    )
    seqs = [(p, c or [EOS]) for p, o in zip(prompts, outs) for c in o.tokens]
    per = -(-len(seqs) // n_mini)
    chunks = [seqs[i : i + per] for i in range(0, len(seqs), per)]
    model.train()
    variants = {"whole sequences": whole_sequences, "shared prompt": shared_prompt}
    times: dict[str, list[float]] = {k: [] for k in variants}
    slots = {k: score_step(model, chunks, v) for k, v in variants.items()}  # warm-up
    for _ in range(args.rounds):
        for k, v in variants.items():
            t0 = time.perf_counter()
            score_step(model, chunks, v)
            times[k].append(time.perf_counter() - t0)
    prompt_tok = sum(len(p) for p, _ in seqs) / len(seqs)
    comp_tok = sum(len(c) for _, c in seqs) / len(seqs)
    print(
        f"{n_prompts} prompts x {n_roll} rollouts in {n_mini} mini-batches (mean prompt {prompt_tok:.0f}, "
        f"completion {comp_tok:.0f} tokens), {args.threads} threads, median of {args.rounds} rounds"
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in variants:
        print(f"  {k:16s} {med[k]:7.2f} s   {slots[k]:7,d} token slots per forward")
    print(f"shared prompt vs whole sequences: {med['whole sequences'] / med['shared prompt']:.2f}x")


if __name__ == "__main__":
    main()
