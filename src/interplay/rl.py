"""GRPO post-training with verifier rewards (``docs/experiments.md``), top to bottom.

One step: take ``prompts_per_step`` prompts -> sample ``rollouts`` completions each (temperature 1.0)
-> score them with the process verifier -> group-relative advantages (r - mean) / std -> optionally
drop groups whose rewards are all equal (and refill) -> ``ppo_epochs`` passes over ``mini_batches``
mini-batches with the clipped ratio against the rollout policy's log-probs, token-mean loss, plus a
k3 ("low_var_kl") KL term to the frozen initial policy. Resumes after a kill like the trainer.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from tokenizers import Tokenizer

from interplay import model as M
from interplay.checkpoint import Harness, RunPaths, fingerprint
from interplay.evaluate import ANSWER_END, AUTO, auto_max_new_tokens
from interplay.params import MAX_THREADS, ParamsError, blame, need, option, parse
from interplay.pool import Pool
from interplay.prefix import SharedPrefix, completion_logprobs
from interplay.runtime import PRECISION_DOC, PRECISIONS, autocast, resolve_device
from interplay.sampling import generate
from interplay.task.verify import Score, score
from interplay.tokenizer import EOS, PAD

REWARDS = ("outcome", "process", "strict")


@dataclass(frozen=True)
class RLConfig:
    """One GRPO run (``params.yaml``: a run's entry over ``rl.defaults``); paper values beside ours."""

    dataset: str = option(doc="the RL prompt pool (a dataset, or a prompt filter's output)")
    init: str = option(doc="the run whose checkpoint starts the policy (and is the KL reference)")
    steps: int = option(20, lo=1, hi=10**7, doc="GRPO steps (paper: ~200)")
    prompts_per_step: int = option(32, lo=1, hi=1 << 24, doc="prompts per step (paper: 1,024)")
    rollouts: int = option(6, lo=2, hi=1 << 16, doc="rollouts per prompt, one group (paper: 6)")
    temperature: float = option(1.0, lo=0.0, doc="rollout temperature (paper: 1.0)")
    top_p: float = option(
        1.0, lo=1e-6, hi=1.0, doc="must stay 1.0: the ratio and KL use the full distribution"
    )
    max_new_tokens: int | str = option(
        256,
        lo=1,
        hi=1 << 20,
        sentinel=AUTO,
        doc="new-token cap (paper: 1,024); auto: 1.5 x the pool's longest gold",
    )
    lr: float = option(1e-5, lo=0.0, doc="paper: 1e-6 at 100M params and 1,024-prompt batches")
    weight_decay: float = option(0.01, lo=0.0, doc="AdamW decay of matrices (paper: 0.01)")
    grad_clip: float = option(1.0, lo=0.0, doc="gradient norm clip")
    betas: tuple[float, float] = option((0.9, 0.999), lo=0.0, hi=1.0, doc="AdamW betas")
    clip_eps: float = option(0.2, lo=0.0, doc="PPO ratio clip (paper: 0.2)")
    kl_coef: float = option(
        1e-3, lo=0.0, doc="k3 KL to the initial model (paper: 1e-3); 0: no reference model"
    )
    normalize_std: bool = option(True, doc="divide advantages by the group std (GRPO)")
    mini_batches: int = option(1, lo=1, hi=1 << 24, doc="updates per step (paper: 4)")
    ppo_epochs: int = option(1, lo=1, hi=1000, doc="passes over a step's rollouts (paper: 1)")
    reward: str = option(
        "outcome", choices=REWARDS, doc="outcome | process | strict (paper: outcome; §6: all)"
    )
    alpha: float = option(
        1.0, lo=0.0, hi=1.0, doc="process reward: alpha x outcome + (1 - alpha) x ProcessAcc"
    )
    process_variant: str = option(
        "eq3", choices=("eq3", "gated"), doc="eq3: the paper's text; gated: its code"
    )
    dynamic_sampling: bool = option(
        False, doc="drop all-equal-reward groups and refill (DAPO; not in the paper)"
    )
    shuffle_rewards: bool = option(
        False, doc="negative control: a step's rewards permuted across its rollouts"
    )
    max_refill: int = option(2, lo=0, doc="extra prompt batches tried per step when refilling")
    ops: tuple[int, ...] | None = option(None, custom=True, doc='prompt ops kept ("6-8", a list, calibrated)')
    seed: int = option(0, lo=0, doc="prompt order, sampling and init of the run")
    checkpoint_every: int = option(5, lo=1, doc="steps between resume states")
    log_every: int = option(1, lo=1, doc="steps between logged metrics")
    threads: int = option(2, lo=1, hi=MAX_THREADS, doc="torch CPU threads")
    device: str = option("auto", choices=("auto", "cpu", "cuda"), doc="auto: CUDA when present")
    precision: str = option("auto", choices=PRECISIONS, doc=PRECISION_DOC + "; the update's forwards")


def config_from_params(
    d: Mapping[str, Any],
    key: str,
    defaults: Mapping[str, Any] | None = None,
    calibrated: Mapping[str, Any] | None = None,
    defaults_key: str = "rl.defaults",
) -> RLConfig:
    """A run's entry merged over ``rl.defaults``, validated. Errors name ``key.<field>``, or
    ``defaults_key.<field>`` when the field's value came from the defaults."""
    try:
        return _config_from_merged({**(defaults or {}), **(d or {})}, key, calibrated)
    except ParamsError as err:
        raise blame(err, key, d, defaults_key) from None


def _config_from_merged(merged: dict[str, Any], key: str, calibrated: Mapping[str, Any] | None) -> RLConfig:
    cfg = parse(RLConfig, merged, key)
    need(cfg.temperature > 0, f"{key}.temperature", "must be > 0: GRPO needs sampled rollouts")
    need(
        cfg.top_p == 1.0,
        f"{key}.top_p",
        "must be 1.0: the policy-gradient ratio and KL use the full (temperature-scaled) distribution",
    )
    if merged.get("ops") is not None:
        cfg = replace(cfg, ops=_ops(merged["ops"], f"{key}.ops", calibrated))
    need(
        cfg.prompts_per_step % cfg.mini_batches == 0,
        f"{key}.mini_batches",
        f"{cfg.mini_batches} does not divide prompts_per_step {cfg.prompts_per_step}",
    )
    return cfg


def _ops(value: Any, key: str, calibrated: Mapping[str, Any] | None) -> tuple[int, ...]:
    from interplay.data import parse_ops

    if isinstance(value, str) and value == "calibrated":
        need(
            calibrated is not None and calibrated.get("ops"),
            key,
            "'calibrated' needs a calibration file (run the calibrate stage)",
        )
        value = calibrated["ops"]
    return tuple(sorted(parse_ops(value, key)))


# ----------------------------------------------------------------------------------------------
# rewards


def reward(s: Score, cfg: RLConfig) -> float:
    """Outcome, process mix (Eq. 3, or the official gated variant) or strict."""
    outcome = float(s.answer_correct)
    if cfg.reward == "outcome":
        return outcome
    if cfg.reward == "strict":
        return float(s.verified)
    if cfg.process_variant == "gated":
        return outcome * (cfg.alpha + (1 - cfg.alpha) * s.process_reward_official)
    return cfg.alpha * outcome + (1 - cfg.alpha) * s.process_acc


def shuffled(rewards: np.ndarray, seed: int, step: int) -> np.ndarray:
    """The negative control's rewards: a step's rewards permuted across all its rollouts (a pure
    function of seed and step). Their distribution, and so the logged mean, is unchanged; which
    rollout earns which reward is no longer related to what it wrote."""
    if rewards.size == 0:
        return rewards
    perm = np.random.default_rng([seed, step]).permutation(rewards.size)
    return rewards.reshape(-1)[perm].reshape(rewards.shape)


def advantages(rewards: np.ndarray, normalize_std: bool, eps: float = 1e-6) -> np.ndarray:
    """Group-relative advantages for rewards shaped (groups, rollouts)."""
    adv = rewards - rewards.mean(axis=1, keepdims=True)
    if normalize_std:
        adv = adv / (rewards.std(axis=1, ddof=1, keepdims=True) + eps)
    return adv


def resolve_max_new(cfg: RLConfig, pool: Pool, positions: int, key: str) -> RLConfig:
    """``max_new_tokens: auto`` -> AUTO_FACTOR x the longest gold completion of the pool (so a
    correct rollout is never cut off), within the model's positions; a number stays as given."""
    if cfg.max_new_tokens != AUTO:
        return cfg
    need(pool.gold_len is not None, f"{key}.max_new_tokens", "'auto' needs the dataset's text column")
    n = auto_max_new_tokens(pool.gold_len.tolist(), positions)
    return replace(cfg, max_new_tokens=n)


def rollout_length(pool: Pool, max_new_tokens: int, positions: int) -> float:
    """The ledger's L: prompt + new-token cap per rollout, within the model's positions, averaged
    over the pool (each prompt is drawn equally often over epochs)."""
    return float(np.mean(np.minimum(pool.prompt_len.astype(np.int64) + max_new_tokens, positions)))


def budget_steps(total: float, beta: float, per_step: float, filter_cost: float, key: str) -> int:
    """RL steps of a compute-matched arm: its share ``beta`` of the budget ``total`` (token-equivalents),
    less what the prompt filter spent sampling its pool, in steps of ``per_step``, rounded to the
    nearest step (the arm gets its share, not up to a step less); at least one."""
    buys = (beta * total - filter_cost) / per_step
    spent = f" after the prompt filter's {filter_cost:,.0f}" if filter_cost else ""
    need(round(buys) >= 1, key, f"beta * total_tokens{spent} buys {buys:.2f} RL steps")
    return round(buys)


def prompt_indices(n: int, count: int, seed: int, start: int) -> list[int]:
    """Prompts [start, start+count) of the seeded epoch-by-epoch order (pure function)."""
    out = []
    pos = start
    while len(out) < count:
        epoch, off = divmod(pos, n)
        perm = np.random.default_rng([seed, 7919, epoch]).permutation(n)
        take = min(count - len(out), n - off)
        out.extend(perm[off : off + take].tolist())
        pos += take
    return out


def _step_seed(seed: int, step: int, attempt: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{step}|{attempt}".encode()).digest()[:4], "big")


def run(
    cfg: RLConfig,
    pool: Pool,
    tok: Tokenizer,
    init_dir: Path,
    paths: RunPaths,
    inputs_fingerprint: str = "",
    stop_after: int | None = None,
    progress: bool = True,
) -> dict:
    """GRPO for ``cfg.steps`` steps; under torchrun each rank rolls out its share of every step's
    prompts and the update is DDP with a global token-mean. Only rank 0 logs and writes."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    from interplay import dist as D

    device = resolve_device(cfg.device)
    dd = D.setup(device.type)
    device = D.device_for(dd, device)
    torch.manual_seed(cfg.seed)
    policy, ref = _policy_and_reference(init_dir, cfg.kl_coef > 0, device)
    opt = M.adamw(policy, cfg.lr, cfg.betas, cfg.weight_decay)
    fp = fingerprint(asdict(cfg), inputs_fingerprint, dd.world)
    harness = Harness(paths, fp, policy, opt, dd.main, cfg.steps, "grpo", progress)
    start, cursor = harness.start, harness.meta.get("cursor", 0)  # cursor: prompts consumed so far
    # the ledger's counters survive a resume: every rollout sampled (refills included), every
    # sequence the update trained on, and the wall seconds of the steps
    ledger = {"rollout_tokens": 0, "update_tokens": 0, "seconds": 0.0, **(harness.meta.get("ledger") or {})}
    D.barrier(dd)
    net = DDP(policy, device_ids=[dd.local_rank] if device.type == "cuda" else None) if dd.enabled else policy
    stop_ids = [tok.token_to_id(ANSWER_END), EOS]
    n_params = policy.cfg.n_params(embedding=False)
    last: dict[str, float] = {}
    for step in range(start, cfg.steps):
        t0 = time.perf_counter()
        # 1. rollout and score this rank's share of the step's prompts (refills: dynamic sampling)
        ro = _rollouts(policy, pool, tok, cfg, step, cursor, stop_ids, device, dd)
        cursor = ro.cursor
        ledger["rollout_tokens"] += ro.sampled_tokens
        rewards = np.array([g.rewards for g in ro.groups]) if ro.groups else np.zeros((0, cfg.rollouts))
        if cfg.shuffle_rewards:
            rewards = shuffled(rewards, cfg.seed, step)
        # 2. group-relative advantages and the PPO-clip update
        tu = time.perf_counter()
        seqs, advs = _with_advantages(ro.groups, rewards, cfg.normalize_std)
        stats = _update(net, policy, ref, opt, seqs, advs, cfg, device, dd)
        ledger["update_tokens"] += int(
            D.all_reduce_sum(torch.tensor(sum(len(p) + len(c) for p, c in seqs)), dd)
        )
        t_update = time.perf_counter() - tu
        dt = time.perf_counter() - t0
        ledger["seconds"] += dt
        # 3. log
        times = {"step": dt, "sample": ro.sample_seconds, "reward": ro.reward_seconds, "update": t_update}
        last = _step_metrics(ro, rewards, stats, times, cfg, dd)
        done = step + 1
        harness.log(done, last, cfg.log_every)
        harness.tick(reward=f"{last['reward/mean']:.3f}", kl=f"{stats['kl']:.4f}")
        if harness.checkpoint(done, cfg.checkpoint_every, stop_after, {"cursor": cursor, "ledger": ledger}):
            D.barrier(dd)
            return {"steps": done, "stopped": True}
    harness.bar.close()
    seq_cap = rollout_length(pool, cfg.max_new_tokens, policy.cfg.max_seq_len)
    summary = _summary(cfg, ledger, last, n_params, seq_cap, 1.0 if ref is not None else 0.0, dd.world)
    harness.finish(
        {k: v for k, v in summary.items() if not k.startswith("final/")},  # dvclive has the last step's
        paths.tokenizer,
        {"rl_steps": cfg.steps, "init": cfg.init},
    )
    D.barrier(dd)
    return summary


def _policy_and_reference(init_dir: Path, with_reference: bool, device) -> tuple[M.Qwen2, M.Qwen2 | None]:
    """The policy and, when the KL term is on, a frozen copy of the initial model."""
    policy = M.load(init_dir, device)
    ref = M.load(init_dir, device).eval() if with_reference else None
    for p in ref.parameters() if ref is not None else []:
        p.requires_grad_(False)
    return policy, ref


def _with_advantages(groups: list, rewards: np.ndarray, normalize_std: bool):
    """(prompt, completion) pairs of every rollout and its group-relative advantage; an empty
    completion is trained as the end-of-text token alone."""
    seqs, advs = [], []
    if groups:
        for g, a in zip(groups, advantages(rewards, normalize_std)):
            for c, av in zip(g.completions, a):
                seqs.append((g.prompt_ids, c if c else [EOS]))
                advs.append(float(av))
    return seqs, advs


def _summary(
    cfg: RLConfig, ledger: dict, last: dict, n_params: int, seq_cap: float, gamma: float, world: int
) -> dict[str, Any]:
    """The run's summary and compute ledger: the paper's formula (every rollout at the length cap)
    beside what was realised (a forward pass, 2P, per sampled token; reference forward and update,
    2P gamma + 6P, per token the update trained on)."""
    from interplay.compute import rl_flops, rl_token_equivalent

    n_prompts = cfg.steps * cfg.prompts_per_step
    flops_actual = n_params * (2.0 * ledger["rollout_tokens"] + (6.0 + 2.0 * gamma) * ledger["update_tokens"])
    return {
        **{f"final/{k}": v for k, v in last.items() if k.startswith(("reward", "rollout", "policy"))},
        "steps": cfg.steps,
        "prompts": n_prompts,
        "rollouts": cfg.rollouts,
        "params_non_embedding": n_params,
        "flops_paper": rl_flops(n_params, n_prompts, cfg.rollouts, seq_cap, gamma),
        "token_equivalent_paper": rl_token_equivalent(n_prompts, cfg.rollouts, seq_cap, gamma),
        "flops_actual": flops_actual,
        "token_equivalent_actual": flops_actual / (6.0 * n_params),
        "rollout_tokens": ledger["rollout_tokens"],
        "update_tokens": ledger["update_tokens"],
        "seq_len_cap": seq_cap,
        "wall_seconds": ledger["seconds"],
        "world_size": world,
    }


class Group(NamedTuple):
    """One prompt's rollouts in a step, scored."""

    prompt: int  # index into the pool
    prompt_ids: list[int]
    completions: list[list[int]]
    rewards: list[float]
    scores: list[Score]
    truncated: list[bool]


@dataclass
class Rollouts:
    groups: list[Group]  # the groups kept for the update (dynamic sampling drops all-equal ones)
    cursor: int  # prompts consumed so far (the next step starts here)
    tried: int  # prompts sampled in this step, refills included
    sampled_tokens: int  # prompt + completion tokens sampled, all ranks (the ledger's rollout cost)
    sample_seconds: float
    reward_seconds: float


def _rollouts(
    policy, pool: Pool, tok: Tokenizer, cfg: RLConfig, step: int, cursor: int, stop_ids, device, dd
) -> Rollouts:
    """Sample ``rollouts`` completions for this rank's share of the step's prompts and score them;
    with dynamic sampling, drop groups whose rewards are all equal and refill (up to ``max_refill``)."""
    from interplay import dist as D

    groups: list[Group] = []
    kept_global = tried = sampled_total = 0
    t_sample = t_reward = 0.0
    for attempt in range(1 + (cfg.max_refill if cfg.dynamic_sampling else 0)):
        need_n = cfg.prompts_per_step - kept_global
        idx = prompt_indices(len(pool), need_n, cfg.seed, cursor)[dd.rank :: dd.world]
        drawn = pool.get(idx)
        cursor += need_n
        tried += need_n
        ts = time.perf_counter()
        policy.eval()
        outs = generate(
            policy,
            [d.ids for d in drawn],
            cfg.rollouts,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            stop_ids=stop_ids,
            seed=_step_seed(cfg.seed, step, attempt),
            problem_keys=[d.key for d in drawn],
            batch_rows=512,
            device=device,
        )
        t_sample += time.perf_counter() - ts
        sampled = sum(len(d.ids) + len(c) for d, o in zip(drawn, outs) for c in o.tokens)
        sampled_total += int(D.all_reduce_sum(torch.tensor(sampled), dd))
        tr = time.perf_counter()
        for i, d, o in zip(idx, drawn, outs):
            scores = [
                score(tok.decode(c, skip_special_tokens=False), d.gold, d.answer, d.modulus) for c in o.tokens
            ]
            rs = [reward(s, cfg) for s in scores]
            if cfg.dynamic_sampling and max(rs) == min(rs):
                continue
            groups.append(Group(i, d.ids, o.tokens, rs, scores, o.truncated))
        t_reward += time.perf_counter() - tr
        kept_global = int(D.all_reduce_sum(torch.tensor(len(groups)), dd))
        if kept_global >= cfg.prompts_per_step or not cfg.dynamic_sampling:
            break
    return Rollouts(groups, cursor, tried, sampled_total, t_sample, t_reward)


def _step_metrics(
    ro: Rollouts, rewards: np.ndarray, stats: dict, times: dict, cfg: RLConfig, dd
) -> dict[str, float]:
    """The step's logged values, summed over ranks (every rollout of the kept groups counts once)."""
    from interplay import dist as D

    flat = [s for g in ro.groups for s in g.scores]
    sums = {
        "reward": float(rewards.sum()),
        "rollouts": float(rewards.size),
        "answer": float(sum(s.answer_correct for s in flat)),
        "verified": float(sum(s.verified for s in flat)),
        "process": float(sum(s.process_acc for s in flat)),
        "uniform_groups": float(sum(max(g.rewards) == min(g.rewards) for g in ro.groups)),
        "groups": float(len(ro.groups)),
        "tokens": float(sum(len(c) for g in ro.groups for c in g.completions)),
        "completions": float(sum(len(g.completions) for g in ro.groups)),
        "truncated": float(sum(t for g in ro.groups for t in g.truncated)),
    }
    tot = dict(
        zip(sums, D.all_reduce_sum(torch.tensor(list(sums.values()), dtype=torch.float64), dd).tolist())
    )
    n_r, n_c = max(tot["rollouts"], 1.0), max(tot["completions"], 1.0)
    zero_var = (
        1.0 - tot["groups"] / max(ro.tried, 1)
        if cfg.dynamic_sampling
        else tot["uniform_groups"] / max(tot["groups"], 1.0)
    )
    return {
        "reward/mean": tot["reward"] / n_r,
        "reward/answer_acc": tot["answer"] / n_r,
        "reward/verified": tot["verified"] / n_r,
        "reward/process_acc": tot["process"] / n_r,
        "groups/zero_variance_frac": zero_var,
        "rollout/mean_len": tot["tokens"] / n_c,
        "rollout/truncated": tot["truncated"] / n_c,
        "policy/kl": stats["kl"],
        "policy/entropy": stats["entropy"],
        "policy/loss": stats["loss"],
        "policy/clip_frac": stats["clip_frac"],
        "perf/step_seconds": times["step"],
        "perf/sample_seconds": times["sample"],
        "perf/reward_seconds": times["reward"],
        "perf/update_seconds": times["update"],
        "perf/rollout_tokens_per_s": tot["tokens"] / max(times["sample"], 1e-9),
        "perf/prompts_per_s": ro.tried / max(times["step"], 1e-9),
    }


def _token_sum(x: torch.Tensor) -> float:
    """Sum of a (completions, tokens) tensor for the logs, in float64 and in an order that does not
    depend on the thread count: each row alone, then the row sums. (A flat ``sum()`` of more than
    32,768 elements is split across threads, which changes its last bits.)"""
    return float(x.double().sum(-1).sum())


def clipped_objective(
    ratio: torch.Tensor, adv: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO-clip per-token loss ``max(-r A, -clip(r) A)`` and where the clipped term is the one taken
    (verl's ``pg_clipfrac``: the tokens whose gradient the clip removes), not merely |r - 1| > eps."""
    unclipped = -ratio * adv
    clipped = -ratio.clamp(1 - eps, 1 + eps) * adv
    return torch.maximum(unclipped, clipped), clipped > unclipped


def _update(net, policy, ref, opt, seqs, advs, cfg: RLConfig, device, dd=None) -> dict[str, float]:
    """PPO-clip epochs over mini-batches; old log-probs from the rollout policy (before updates).

    Every rank runs the same number of backward passes (DDP needs it); a mini-batch's loss is a
    token-mean over all ranks' completion tokens."""
    from interplay import dist as D

    dd = dd or D.Dist()
    n = len(seqs)
    per = max(1, math.ceil(n / cfg.mini_batches))
    chunks = [list(range(s * per, min(n, (s + 1) * per))) for s in range(cfg.mini_batches)]
    adv_t = torch.tensor(advs, dtype=torch.float32, device=device)
    T = cfg.temperature
    ac = autocast(device, cfg.precision)  # old, reference and live log-probs alike (fp32 log-softmax)
    policy.eval()
    old, refs = [], []
    # each mini-batch scored with its prompts computed once (interplay.prefix)
    batches = [SharedPrefix.build([seqs[i] for i in ch], PAD, device) if ch else None for ch in chunks]
    with torch.no_grad(), ac:
        for j, b in enumerate(batches):
            if b is None:
                old.append(None)
                refs.append(None)
                continue
            # the first mini-batch of the first epoch is scored before any update: its old
            # log-probs are the live ones (detached), so no extra forward pass is needed
            old.append(None if j == 0 else completion_logprobs(policy, b, temperature=T)[0])
            refs.append(completion_logprobs(ref, b, temperature=T)[0] if ref is not None else None)
    policy.train()
    tot = torch.zeros(5, dtype=torch.float64)  # loss*tok, kl*tok, ent*tok, clipped, tokens
    for _ in range(cfg.ppo_epochs):
        for j, (ch, old_lp, ref_lp) in enumerate(zip(chunks, old, refs)):
            count = D.all_reduce_sum(
                torch.tensor(float(sum(len(seqs[i][1]) for i in ch)), dtype=torch.float64), dd
            )
            opt.zero_grad(set_to_none=True)
            if not ch or count == 0:  # nothing here: still join the gradient all-reduce
                (sum(p.sum() for p in policy.parameters()) * 0.0).backward()
                if count > 0:
                    torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
                    opt.step()
                continue
            mask = batches[j].mask
            with ac:
                lp, ent = completion_logprobs(net, batches[j], with_entropy=True, temperature=T)
            if old_lp is None:  # first mini-batch, first epoch: rollout policy == current policy;
                old[j] = old_lp = lp.detach()  # kept for later epochs, which compare with it
            a = adv_t[ch].unsqueeze(1)
            ratio = torch.exp(lp - old_lp)
            per_tok, clipped = clipped_objective(ratio, a, cfg.clip_eps)
            kl = torch.zeros_like(lp)
            if ref_lp is not None:
                d = ref_lp - lp
                kl = torch.exp(d) - d - 1  # k3, unbiased and non-negative
                per_tok = per_tok + cfg.kl_coef * kl
            m = mask.float()
            loss = (per_tok * m).sum() * dd.world / count.float()  # global token-mean (DDP averages)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            opt.step()
            with torch.no_grad():
                tot += torch.tensor(
                    [
                        _token_sum(per_tok * m),
                        _token_sum(kl * m),
                        _token_sum(ent * m),
                        _token_sum(clipped.float() * m),
                        _token_sum(m),
                    ],
                    dtype=torch.float64,
                )
    tot = D.all_reduce_sum(tot, dd)
    t = max(float(tot[4]), 1.0)
    return {
        "loss": float(tot[0]) / t,
        "kl": float(tot[1]) / t,
        "entropy": float(tot[2]) / t,
        "clip_frac": float(tot[3]) / t,
    }
