"""The compute ledger: FLOPs and token-equivalents of next-token training and of GRPO.

The experiment it serves: ``docs/experiments.md``, finding 3.

Next-token training: C = 6 P T (P = non-embedding parameters, T = tokens).
GRPO, per token of each sequence: rollout 2P + reference forward 2P*gamma + update 6P, so
C_RL = (8 + 2 gamma) P N r L  and its token-equivalent  T_RL = C_RL / 6P = (4/3 + gamma/3) N r L
(N prompts, r rollouts, L = prompt + completion length; the paper uses the cap, L = 2,048).
A budget T split with RL share beta gives T_mid = (1 - beta) T and N = 3 beta T / ((4 + gamma) r L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def rl_flops(params: int, prompts: float, rollouts: int, seq_len: float, gamma: float = 1.0) -> float:
    """gamma = 1 when a frozen reference model is run (KL > 0), 0 without it."""
    return (8.0 + 2.0 * gamma) * params * prompts * rollouts * seq_len


def rl_token_equivalent(prompts: float, rollouts: int, seq_len: float, gamma: float = 1.0) -> float:
    return (4.0 / 3.0 + gamma / 3.0) * prompts * rollouts * seq_len


@dataclass(frozen=True)
class Split:
    beta: float
    total_tokens: float
    mid_tokens: float
    mid_steps: int
    rl_prompts: int
    rl_steps: int


def split_budget(
    total_tokens: float,
    beta: float,
    *,
    rollouts: int,
    seq_len: float,
    mid_tokens_per_step: int,
    rl_prompts_per_step: int,
    gamma: float = 1.0,
) -> Split:
    """Mid-training steps and RL steps for a budget ``total_tokens`` with RL share ``beta``."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    mid_tokens = (1.0 - beta) * total_tokens
    per_prompt = rl_token_equivalent(1, rollouts, seq_len, gamma)
    prompts = beta * total_tokens / per_prompt
    rl_steps = math.floor(prompts / rl_prompts_per_step + 1e-9)
    return Split(
        beta,
        total_tokens,
        mid_tokens,
        round(mid_tokens / mid_tokens_per_step),
        rl_steps * rl_prompts_per_step,
        rl_steps,
    )


def rl_step_token_equivalent(prompts_per_step: int, rollouts: int, seq_len: float, gamma: float) -> float:
    return rl_token_equivalent(prompts_per_step, rollouts, seq_len, gamma)


def budget_from_params(d: dict, key: str) -> tuple[float, float]:
    """``budget: {total_tokens: T, beta: b}`` of a mid-training or RL run, validated."""
    from interplay.params import as_float, check_keys

    check_keys(d, key, {"total_tokens", "beta"}, {"total_tokens", "beta"})
    from interplay.train import MAX_TOKENS

    return as_float(d["total_tokens"], f"{key}.total_tokens", lo=1.0, hi=MAX_TOKENS), as_float(
        d["beta"], f"{key}.beta", 0.0, 1.0
    )


def flops_per_token(cfg: Any, seq_len: int) -> float:
    """Training FLOPs per token: 6 x (non-embedding params + tied LM head) + causal attention
    (6 x layers x d_model x seq_len: half of nanoGPT's full-matrix 12 x ..., as a causal kernel skips
    the upper triangle)."""
    n = cfg.n_params(embedding=False) + cfg.vocab_size * cfg.d_model
    return 6 * n + 6 * cfg.n_layer * cfg.d_model * seq_len
