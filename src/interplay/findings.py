"""The paper's four findings as computations over evaluation results: tables, verdicts, figures.

Each finding compares evaluation runs (``reports/eval/<name>.parquet``) on the same problems, so
differences use a paired bootstrap over problems. A run trained with several seeds is named in
``params.yaml`` by the list of its seeds' evaluations: its values are means over seeds and problems,
and its intervals resample seeds and problems (``passk.hierarchical_ci``). A verdict is computed
from the data: "reproduced", "direction only" or "not reproduced" by the rules of
``interplay.verdicts``, with the differences each verdict rests on, the problems and the training
seeds beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from interplay import inputs, plots
from interplay import verdicts as V
from interplay.passk import SEED_COL, estimate, hierarchical_ci, matrix, pass_at_k_array, per_problem
from interplay.runs import seed_names

EVAL_DIR = Path("reports/eval")


def load_eval(name: str | Sequence[str]) -> pl.DataFrame:
    """One evaluation, or a run's training seeds (a list of evaluations) as one frame; ``SEED_COL``
    names the evaluation of each row."""
    names = seed_names(name)
    frames = []
    for n in names:
        path = EVAL_DIR / f"{n}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: evaluation '{n}' has not been run")
        frames.append(inputs.parquet(path, f"evaluation '{n}'").with_columns(pl.lit(n).alias(SEED_COL)))
    return pl.concat(frames, how="vertical_relaxed")


def n_seeds(df: pl.DataFrame) -> int:
    return df[SEED_COL].n_unique() if SEED_COL in df.columns else 1


def n_problems(df: pl.DataFrame, ops: Sequence[int]) -> int:
    return len(matrix(df, ops, 1)[0])


value = estimate  # mean pass@k over seeds and problems with its interval


def with_edge_set(main: pl.DataFrame, edge: pl.DataFrame, ops: Sequence[int]) -> pl.DataFrame:
    """``main`` with its rows at ``ops`` replaced by ``edge``'s (a larger evaluation of the same
    model(s) there). Seeds pair in the order listed: the i-th evaluation of ``edge`` takes the name
    of ``main``'s i-th, so a run keeps one seed per training seed."""
    a = list(dict.fromkeys(main[SEED_COL].to_list()))
    b = list(dict.fromkeys(edge[SEED_COL].to_list()))
    if len(a) != len(b):
        raise ValueError(f"edge set {b} has {len(b)} evaluation(s) for {len(a)} in {a}: list one per seed")
    edge = edge.filter(pl.col("op").is_in(list(ops)))
    if edge.height == 0:
        raise ValueError(f"edge set {b} has no problem at op {list(ops)}")
    renamed = edge.with_columns(pl.col(SEED_COL).replace_strict(dict(zip(b, a))))
    kept = main.filter(~pl.col("op").is_in(list(ops)))
    return pl.concat([kept, renamed.select(kept.columns)], how="vertical_relaxed")


def _paired_values(a: pl.DataFrame, b: pl.DataFrame, ops: Sequence[int], k: int | str) -> np.ndarray:
    """a - b as a (seeds x problems) array over the problems both evaluated (problem-id order). A
    single-seed side is subtracted from every seed of the other; two multi-seed sides pair their
    seeds in the order listed (independent runs: any fixed pairing is a fair one) and must list as
    many."""
    ia, va = matrix(a, ops, k)
    ib, vb = matrix(b, ops, k)
    common = sorted(set(ia) & set(ib))
    va = va[:, [ia.index(i) for i in common]]
    vb = vb[:, [ib.index(i) for i in common]]
    if len(va) > 1 and len(vb) > 1 and len(va) != len(vb):
        raise ValueError(f"cannot pair {len(va)} training seeds with {len(vb)}: list as many for both runs")
    return va - vb


def paired_diff(
    a: pl.DataFrame, b: pl.DataFrame, ops: Sequence[int], k: int | str
) -> tuple[float, float, float]:
    """mean(a - b) over seeds and the problems both evaluated, with a paired (hierarchical) interval."""
    d = _paired_values(a, b, ops, k)
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = hierarchical_ci(d)
    return float(d.mean()), lo, hi


def seeds_note(runs: Mapping[str, pl.DataFrame]) -> str:
    """How many training seeds each compared run has, for a verdict's summary."""
    counts = {label: n_seeds(df) for label, df in runs.items()}
    if len(set(counts.values())) == 1:
        n = next(iter(counts.values()))
        return "one training seed per run" if n == 1 else f"{n} training seeds per run"
    return "training seeds: " + ", ".join(f"{label} {n}" for label, n in counts.items())


@dataclass
class Finding:
    key: str
    title: str
    verdict: str
    summary: str
    tables: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}"


def ci(m: float, lo: float, hi: float) -> str:
    """A percentage with its interval; "—" alone where there is no estimate (no problem sampled)."""
    return "—" if m != m else f"{pct(m)} [{pct(lo)}, {pct(hi)}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _diffs_vs(
    runs: Mapping[str, pl.DataFrame], ref: str, cells: Mapping[str, tuple[Sequence[int], int | str]]
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Every run but ``ref`` minus ``ref``, paired over problems: label -> cell -> (mean, lo, hi)."""
    return {
        lab: {c: paired_diff(df, runs[ref], ops, k) for c, (ops, k) in cells.items()}
        for lab, df in runs.items()
        if lab != ref
    }


def _diff_table(
    first: str,
    ref: str,
    diffs: Mapping[str, Mapping[str, tuple[float, float, float]]],
    verdict: Mapping[tuple[str, str], V.Diff] | None = None,
) -> str:
    """Every run minus ``ref``, 95% intervals; a cell a Holm verdict rests on (``verdict``: (run,
    column) -> the rule's difference) shows the verdict's interval instead, marked, so each quantity
    has one interval wherever it appears (report, README)."""
    verdict = verdict or {}

    def cell(lab: str, c: str, d: tuple[float, float, float]) -> str:
        if (lab, c) in verdict:
            v = verdict[lab, c]
            return f"{ci(v.mean, v.lo, v.hi)} (Holm)"
        return ci(*d)

    header = [first, *[f"{c} - {ref}" for c in next(iter(diffs.values()), {})]]
    table = _table(header, [[lab, *[cell(lab, c, d) for c, d in ds.items()]] for lab, ds in diffs.items()])
    if not verdict:
        return table
    return table + "\n\n95% intervals; those marked (Holm) are the verdict's, at its Holm-corrected levels."


def _pass_table(runs: Mapping[str, pl.DataFrame], groups: Mapping[str, Sequence[int]]) -> tuple[dict, dict]:
    """Run -> "<group> @1" / "<group> @n" -> strict pass@k, and the same keys -> its interval."""
    table: dict = {label: {} for label in runs}
    errs: dict = {label: {} for label in runs}
    for label, df in runs.items():
        for g, ops in groups.items():
            for k in (1, "n"):
                m, lo, hi = value(df, ops, k)
                table[label][f"{g} @{k}"] = m
                errs[label][f"{g} @{k}"] = (lo, hi)
    return table, errs


def _with_n(
    table: Mapping[str, Mapping[str, float]], errs: Mapping, runs: Mapping[str, pl.DataFrame]
) -> tuple:
    """Bar labels that say n: "op 2-5 @n" -> "op 2-5 pass@128" (figures only; tables keep "@n")."""
    n = min(int(df["n"].min()) for df in runs.values())

    def label(c: str) -> str:
        return c.replace(" @n", f" pass@{n}").replace(" @1", " pass@1")

    relabel = {s: {label(c): v for c, v in t.items()} for s, t in table.items()}
    return relabel, {s: {label(c): v for c, v in e.items()} for s, e in errs.items()}


def _holm_verdict(
    runs: Mapping[str, pl.DataFrame], paired: Mapping[str, np.ndarray], n_prob: int, paper: str
) -> tuple[str, list[V.Diff], str]:
    """Findings 3 and 4: some arm beats the reference, Holm-corrected over the arms compared
    (``paired``: comparison name -> paired per-seed, per-problem values). Verdict, the rule's
    differences, and the summary line naming the problems and seeds it rests on."""
    verdict, rule = V.holm_any(
        list(paired.values()), list(paired), lambda v, level: hierarchical_ci(v, level=level)
    )
    summary = "; ".join(f"{d.name}: {ci(d.mean, d.lo, d.hi)}" for d in rule) + (
        f" (points; {n_prob} problems; {seeds_note(runs)}; Holm-corrected intervals). {paper}"
    )
    return verdict, rule, summary


def _rule_table(rule: Sequence[V.Diff]) -> str:
    """The differences a verdict rests on, each with the paper's direction and whether it holds."""
    sign = {1: "> 0", -1: "< 0", 0: "not above 0"}
    rows = []
    for d in rule:
        holds = (d.lo <= 0) if d.direction == 0 else d.excludes_zero()
        rows.append([d.name, ci(d.mean, d.lo, d.hi), sign[d.direction], "yes" if holds else "no"])
    level = "interval at the Holm level named" if any("(Holm " in d.name for d in rule) else "95% interval"
    return _table(["the verdict needs", f"points, {level}", "paper", "interval agrees"], rows)


def edge_of_competence(cfg: Mapping[str, Any], ranges: Mapping[str, list[int]], fig_dir: Path) -> Finding:
    """Finding 1: RL raises pass@n only when its data sit at the edge of competence."""
    base = load_eval(cfg["base"])
    runs = {label: load_eval(name) for label, name in cfg["rl"].items()}
    plots.reward_curves(
        {label: [Path("reports/train") / n for n in seed_names(name)] for label, name in cfg["rl"].items()},
        fig_dir / "edge_reward.png",
    )
    edge_label, id_label = cfg["edge_label"], cfg["id_label"]
    edge_ops = ranges["edge"]
    # OOD-edge on the larger edge set when one is configured (same labels as `rl`): its rows replace
    # the runs' own edge-op rows everywhere (tables, curves, differences), so each model's edge ops
    # are sampled once
    edge_set = cfg.get("edge_set") or {}
    if edge_set:
        base = with_edge_set(base, load_eval(edge_set["base"]), edge_ops)
        runs = {label: with_edge_set(df, load_eval(edge_set[label]), edge_ops) for label, df in runs.items()}
    rows, metrics = [], {}
    for label, df in [("base", base), *runs.items()]:
        row = [label]
        for rname, ops in ranges.items():
            for k in (1, "n"):
                m, lo, hi = value(df, ops, k)
                row.append(ci(m, lo, hi))
                if m == m:  # no entry where the model was not sampled (NaN is not JSON)
                    metrics[f"{label}/{rname}/pass@{k}"] = m
        rows.append(row)
    header = ["model"] + [f"{r} pass@{k}" for r in ranges for k in (1, "n")]
    plots.passk_curves(
        {"base": base, **runs},
        ranges,
        "Finding 1: pass@k after RL on each op range",
        fig_dir / "edge_passk.png",
    )
    hard_label = cfg["hard_label"]
    d_edge = paired_diff(runs[edge_label], base, edge_ops, "n")
    d_vs_id = paired_diff(runs[edge_label], runs[id_label], edge_ops, "n")
    d_vs_hard = paired_diff(runs[edge_label], runs[hard_label], edge_ops, "n")
    d_id = paired_diff(runs[id_label], base, ranges["id"], "n")
    # the rule (interplay.verdicts), fixed before the competent-base rerun: RL at the edge lifts
    # OOD-edge pass@n over the base and over RL on the other ranges ("only at the edge"), and RL on
    # ID data does not lift ID pass@n
    rule = [
        V.Diff(f"{edge_label} - base, OOD-edge pass@n", *d_edge, 1),
        V.Diff(f"{edge_label} - {id_label}, OOD-edge pass@n", *d_vs_id, 1),
        V.Diff(f"{edge_label} - {hard_label}, OOD-edge pass@n", *d_vs_hard, 1),
        V.Diff(f"{id_label} - base, ID pass@n (must not be above 0)", *d_id, 0),
    ]
    n_edge = n_problems(base, edge_ops)
    summary = "; ".join(f"{d.name}: {ci(d.mean, d.lo, d.hi)}" for d in rule) + (
        f" (points; OOD-edge on {n_edge} problems; {seeds_note({'base': base, **runs})}). Paper: a "
        "large edge gain, only from RL at the edge; no ID pass@128 gain."
    )
    diff_header = ["RL run", f"OOD-edge pass@n - base (points, {n_edge} problems)", "pass@1 - base"]
    diffs = [
        [label, *(ci(*paired_diff(df, base, edge_ops, k)) for k in ("n", 1))] for label, df in runs.items()
    ]
    signal = signal_table(rl_runs("edge", cfg))
    return Finding(
        "edge",
        "Finding 1: RL lifts pass@n only at the edge of competence",
        V.verdict(rule),
        summary,
        [_rule_table(rule), _table(header, rows), _table(diff_header, diffs), signal[0]],
        ["edge_passk.png", "edge_reward.png"],
        {
            **metrics,
            **signal[1],
            "d_edge": d_edge[0],
            "d_edge_vs_id": d_vs_id[0],
            "d_edge_vs_hard": d_vs_hard[0],
            "d_id": d_id[0],
            "edge_problems": n_edge,
            "seeds": {label: n_seeds(df) for label, df in runs.items()},
        },
    )


def context_seed(cfg: Mapping[str, Any], ops: Sequence[int], fig_dir: Path) -> Finding:
    """Finding 2: transfer to context B needs a pre-training seed of B (>= 1%)."""
    runs = {label: load_eval(name) for label, name in cfg["rl"].items()}
    plots.per_op_lines(
        runs,
        None,
        "Finding 2: context-B pass@n after RL, by pre-training exposure",
        fig_dir / "context_passn.png",
    )
    rows, metrics = [], {}
    for label, df in runs.items():
        m = value(df, ops, "n")
        rows.append([label, ci(*m), ci(*value(df, ops, 1))])
        metrics[f"{label}/pass@n"] = m[0]
    zero, seeded = cfg["zero_label"], cfg["seeded_labels"]
    diffs = {lab: paired_diff(runs[lab], runs[zero], ops, "n") for lab in seeded}
    # the rule (interplay.verdicts): every seeded share beats no seed on context-B pass@n
    rule = [V.Diff(f"{lab} - {zero}, context-B pass@n", *d, 1) for lab, d in diffs.items()]
    n_prob = n_problems(runs[zero], ops)
    summary = "; ".join(f"{d.name}: {ci(d.mean, d.lo, d.hi)}" for d in rule) + (
        f" (points; {n_prob} problems; {seeds_note(runs)})"
    )
    # per op, every op evaluated: shows whether the seed is learned where it was seeded (ops outside
    # the finding's range, e.g. op 2) even when it does not transfer to the finding's ops
    ops_of = {label: set(df["op"].to_list()) for label, df in runs.items()}
    shown = [op for op in sorted(set().union(*ops_of.values())) if op <= max(ops)]

    def per_op_cells(df: pl.DataFrame) -> list[str]:
        have = set(df["op"].to_list())
        return [pct(per_problem(df, [op], "n")["v"].mean()) if op in have else "-" for op in shown]

    per_op = [[label, *per_op_cells(df)] for label, df in runs.items()]
    header = ["B share", *[f"op {op}" + ("" if op in ops else " (not in verdict)") for op in shown]]
    tables = [
        _rule_table(rule),
        _table(["B share in pre-training", f"pass@n (ops {min(ops)}-{max(ops)})", "pass@1"], rows),
        "Context-B strict pass@n per op after RL:\n\n" + _table(header, per_op),
    ]

    def beside(dfs: Mapping[str, pl.DataFrame], metric: str, title: str, first: str, lead: str) -> str:
        """Evaluations shown beside the verdict's runs: a per-op table, a metric per label, and the
        summary's clause."""
        vals = {label: value(df, ops, "n") for label, df in dfs.items()}
        metrics.update({f"{label}/{metric}": m[0] for label, m in vals.items()})
        rows = [[label, ci(*vals[label]), *per_op_cells(df)] for label, df in dfs.items()]
        head = [first, f"ops {min(ops)}-{max(ops)}", *[f"op {op}" for op in shown]]
        tables.append(f"{title}:\n\n" + _table(head, rows))
        return f"; {lead}: " + ", ".join(f"{label} {ci(*m)}" for label, m in vals.items())

    if cfg.get("variants"):  # other RL recipes from the same seed models (A.6.2), not in the rule
        summary += beside(
            {label: load_eval(name) for label, name in cfg["variants"].items()},
            "pass@n",
            "Context-B strict pass@n after other RL recipes (not in the verdict)",
            "RL variant",
            "other RL recipes, context-B pass@n",
        )
    before = {label: load_eval(name) for label, name in (cfg.get("before") or {}).items()}
    if before:  # the seed models before RL: any B competence beyond the seeded op?
        summary += beside(
            before,
            "before_rl/pass@n",
            "Context-B strict pass@n of the seed models before RL",
            "B share",
            "before RL, context-B pass@n on the same ops",
        )
    signal = signal_table(rl_runs("context", cfg))
    tables.append(signal[0])
    metrics.update(signal[1])
    if before:
        tables.append(_length_table(before, runs, shown))
    return Finding(
        "context",
        "Finding 2: context transfer needs a pre-training seed",
        V.verdict(rule),
        summary + ". Paper: >= 1% generalises, 0% fails.",
        tables,
        ["context_passn.png"],
        metrics,
    )


def rl_runs(key: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The RL runs finding ``key`` compares, label: evaluation(s) named as the runs (the ladder has
    none; finding 3's mid-training-only split is not RL)."""
    return {
        "edge": cfg.get("rl") or {},
        "process": cfg.get("runs") or {},
        "midrl": {k: v for k, v in (cfg.get("runs") or {}).items() if k != cfg.get("mid_only_label")},
        "context": {**(cfg.get("rl") or {}), **(cfg.get("variants") or {})},
    }.get(key, {})


def rl_logs(
    p: Mapping[str, Any], key: str, cfg: Mapping[str, Any], dvc_yaml: Path = Path("dvc.yaml")
) -> list[str]:
    """The RL runs' logs finding ``key`` reads for its reward-signal table (``signal_table``): every
    RL run it compares, under the name of its evaluation. Checked before any figure is drawn: each
    evaluation's model is the RL run of its name, and each log is a declared dep of the stage."""
    from interplay import jobs
    from interplay.params import need

    out = []
    for name in seed_names(*rl_runs(key, cfg).values()):
        model = jobs.evaluate(p, name).model
        need(
            model == name,
            f"evaluate.runs.{name}.model",
            f"findings.{key} reads the RL logs of '{name}', but the evaluation's model is '{model}'",
        )
        out += [f"reports/train/{name}/plots/metrics", f"reports/train/{name}/metrics.json"]
    jobs.check_declared(key, out, dvc_yaml)
    return out


def rl_signal(run: str) -> dict[str, int] | None:
    """What one RL run's rewards could teach, summed over its steps from its logs
    (``reports/train/<run>``): groups whose rollouts' rewards differ (the only ones with a nonzero
    group-relative advantage) out of all groups, and process-verified rollouts out of all. None when
    the logs do not hold every step (``log_every`` > 1). For runs without dynamic sampling (every
    finding's): with it, the logged share is of the prompts tried, refills included."""
    d = Path("reports/train") / run
    meta = json.loads((d / "metrics.json").read_text())
    steps, per_step, rollouts = meta["steps"], meta["prompts"] // meta["steps"], meta["rollouts"]
    logs = d / "plots" / "metrics"
    zero = pl.read_csv(logs / "groups" / "zero_variance_frac.tsv", separator="\t")["zero_variance_frac"]
    verified = pl.read_csv(logs / "reward" / "verified.tsv", separator="\t")["verified"]
    if len(zero) != steps or len(verified) != steps:
        return None
    return {
        "signal_groups": round(float(((1.0 - zero) * per_step).sum())),
        "groups": steps * per_step,
        "verified": round(float((verified * per_step * rollouts).sum())),
        "rollouts": steps * per_step * rollouts,
    }


def signal_table(named: Mapping[str, str]) -> tuple[str, dict]:
    """Beside a verdict: each RL run's reward signal (``rl_signal``), summed over its training seeds;
    ``named`` maps labels to evaluations, named as their RL runs."""
    rows, metrics = [], {}
    for label, name in named.items():
        per_seed = [rl_signal(n) for n in seed_names(name)]
        if any(s is None for s in per_seed):
            rows.append([label, str(len(per_seed)), "-", "-"])
            continue
        tot = {k: sum(s[k] for s in per_seed) for k in per_seed[0]}  # type: ignore[index]
        metrics.update({f"{label}/signal/{k}": v for k, v in tot.items()})
        rows.append(
            [
                label,
                str(len(per_seed)),
                f"{tot['signal_groups']:,} of {tot['groups']:,}",
                f"{tot['verified']:,} of {tot['rollouts']:,}",
            ]
        )
    title = (
        "Reward signal during RL, summed over steps and training seeds: groups whose rollouts' rewards "
        "differ (only they move the policy) and process-verified rollouts"
    )
    header = ["RL run", "training seeds", "groups with signal", "verified rollouts"]
    return f"{title}:\n\n" + _table(header, rows), metrics


def _length_table(
    before: Mapping[str, pl.DataFrame], after: Mapping[str, pl.DataFrame], ops: Sequence[int]
) -> str:
    """Mean completion length against the gold trace's, per op, of the seed models' evaluations before
    and after RL (label: evaluation): whether a model writes traces as long as the problem needs, or
    one length for all."""
    named = [(f"{lab}, before RL", df) for lab, df in before.items()]
    rows = []
    for label, df in named + [(f"{lab}, after RL", df) for lab, df in after.items()]:
        cells = []
        for op in ops:
            g = df.filter(pl.col("op") == op)
            cells.append(f"{g['mean_len'].mean():.0f} / {g['gold_len'].mean():.0f}" if len(g) else "-")
        rows.append([label, *cells])
    title = "Context-B completion length / gold trace length (tokens, mean over problems) per op"
    return f"{title}:\n\n" + _table(["B share", *[f"op {op}" for op in ops]], rows)


def mid_vs_rl(cfg: Mapping[str, Any], ranges: Mapping[str, list[int]], fig_dir: Path) -> Finding:
    """Finding 3: at equal compute, mid-training + RL beats RL alone (on OOD-hard)."""
    runs = {label: load_eval(name) for label, name in cfg["runs"].items()}
    pilot_note, pilot_table, pilot_metrics = "", [], {}
    if pilot_rule := cfg.get("hard_from_pilot"):  # OOD-hard by the pilot rule (interplay.verdicts)
        hard, pilot_note, pilot_table, pilot_metrics = _hard_from_pilot(runs[pilot_rule.label], pilot_rule)
        ranges = {**ranges, "hard": hard}
    table, errs = _pass_table(runs, {r: ranges[r] for r in ("edge", "hard")})
    bars, bar_errs = _with_n(table, errs, runs)
    plots.grouped_bars(
        bars,
        "Finding 3: compute-matched mid-training / RL splits (95% intervals over problems)",
        "strict pass@k (%)",
        fig_dir / "midrl_bars.png",
        bar_errs,
    )
    rl_only = cfg["rl_only_label"]
    # every split against RL alone, paired over problems: the verdict's column and the edge's
    cols = [("edge", 1), ("edge", "n"), ("hard", 1), ("hard", "n")]
    diffs = _diffs_vs(runs, rl_only, {f"{r} @{k}": (ranges[r], k) for r, k in cols})
    # the rule (interplay.verdicts): some mixed split (not mid-training alone) beats RL alone on
    # OOD-hard pass@n, Holm-corrected for the number of splits compared
    mixed = [lab for lab in diffs if lab != cfg.get("mid_only_label")]
    verdict, rule, summary = _holm_verdict(
        runs,
        {
            f"{lab} - {rl_only}, OOD-hard pass@n": _paired_values(
                runs[lab], runs[rl_only], ranges["hard"], "n"
            )
            for lab in mixed
        },
        n_problems(runs[rl_only], ranges["hard"]),
        "Paper: a mixed split wins on OOD-hard.",
    )
    rows = [[lab, *[pct(table[lab][c]) for c in table[lab]]] for lab in runs]
    signal = signal_table(rl_runs("midrl", cfg))
    return Finding(
        "midrl",
        "Finding 3: mid-training + RL vs RL alone at equal compute",
        verdict,
        pilot_note + summary,
        [
            *pilot_table,
            _rule_table(rule),
            _table(["split", *next(iter(table.values()))], rows),
            _diff_table("split", rl_only, diffs, dict(zip([(lab, "hard @n") for lab in mixed], rule))),
            signal[0],
        ],
        ["midrl_bars.png"],
        {
            **signal[1],
            **pilot_metrics,
            **{f"{lab}/{c}": v for lab, t in table.items() for c, v in t.items()},
            **{f"{lab}/{c} - rl_only": d[0] for lab, ds in diffs.items() for c, d in ds.items()},
        },
    )


def _hard_from_pilot(pilot: pl.DataFrame, rule: V.PilotRule) -> tuple[list[int], str, list[str], dict]:
    """Finding 3's OOD-hard from the pilot split's evaluation by ``rule``: the ops, a sentence for the
    summary, a table of the pilot's per-op pass@k, and the range as metrics."""
    evaluated = sorted(o for o in pilot["op"].unique().to_list() if o >= rule.first_op)
    by_op = {op: value(pilot, [op], rule.k) for op in evaluated}
    hard = V.ops_from_pilot({op: m[0] for op, m in by_op.items()}, rule.first_op, rule.min_pass)
    note = (
        f"OOD-hard = op {hard[0]}-{hard[-1]} by the pilot rule: the last op from {rule.first_op} where "
        f"{rule.label} reaches strict pass@{rule.k} >= {pct(rule.min_pass)}%. "
    )
    table = (
        f"OOD-hard by the pilot rule ({rule.label}, strict pass@{rule.k}, threshold "
        f"{pct(rule.min_pass)}%):\n\n"
        + _table(
            ["op", f"pass@{rule.k}", "in OOD-hard"],
            [[str(op), ci(*m), "yes" if op in hard else "no"] for op, m in by_op.items()],
        )
    )
    return hard, note, [table], {"ood_hard/first_op": hard[0], "ood_hard/last_op": hard[-1]}


def process_rewards(cfg: Mapping[str, Any], ranges: Mapping[str, list[int]], fig_dir: Path) -> Finding:
    """Finding 4: process-verified rewards raise pass@1 over outcome-only rewards."""
    runs = {label: load_eval(name) for label, name in cfg["runs"].items()}
    groups = {"op " + f"{min(o)}-{max(o)}": o for o in cfg["op_groups"]}
    table, errs = _pass_table(runs, groups)
    bars, bar_errs = _with_n(table, errs, runs)
    plots.grouped_bars(
        bars,
        "Finding 4: reward type (95% intervals over problems)",
        "strict pass@k (%)",
        fig_dir / "process_bars.png",
        bar_errs,
    )
    shares = {}
    hard = list(groups.values())[-1]
    for label, df in runs.items():
        sub = df.filter(pl.col("op").is_in(list(hard)))
        tot = float(sub["n"].sum())
        shares[label] = {
            "correct": float(sub["cat_correct"].sum()) / tot,
            "dependency mismatch": float(sub["cat_dependency"].sum()) / tot,
            "missing nodes": float(sub["cat_missing"].sum()) / tot,
            "other (value / answer)": float(sub["cat_value"].sum() + sub["cat_answer"].sum()) / tot,
        }
    plots.stacked_categories(
        shares, f"Outcome categories, op {min(hard)}-{max(hard)}", fig_dir / "process_errors.png"
    )
    outcome = cfg["outcome_label"]
    # every reward against outcome-only, paired over problems, per op group and k
    all_diffs = _diffs_vs(
        runs, outcome, {f"{g} @{k}": (ops, k) for g, ops in groups.items() for k in (1, "n")}
    )
    first = next(iter(groups))  # the verdict: pass@1 on the first (ID) group
    # the rule (interplay.verdicts), fixed before the competent-base rerun: some process-aware reward
    # beats outcome-only on pass@1, Holm-corrected for the number of rewards compared
    others = [lab for lab in runs if lab != outcome]
    per = {
        f"{lab} - {outcome}, pass@1 {first}": _paired_values(runs[lab], runs[outcome], groups[first], 1)
        for lab in others
    }
    verdict, rule, summary = _holm_verdict(
        runs, per, next(iter(per.values())).shape[-1] if per else 0, "Paper: +4-5 points pass@1."
    )
    rows = [[lab, *[pct(v) for v in table[lab].values()]] for lab in runs]
    signal = signal_table(rl_runs("process", cfg))
    return Finding(
        "process",
        "Finding 4: process-verified rewards vs outcome-only",
        verdict,
        summary,
        [
            _rule_table(rule),
            _table(["reward", *next(iter(table.values()))], rows),
            _diff_table(
                "reward", outcome, all_diffs, dict(zip([(lab, f"{first} @1") for lab in others], rule))
            ),
            _table(
                ["reward", *next(iter(shares.values()))],
                [[lab, *[pct(v) for v in s.values()]] for lab, s in shares.items()],
            ),
            signal[0],
        ],
        ["process_bars.png", "process_errors.png"],
        {
            **signal[1],
            **{f"{lab}/{c}": v for lab, t in table.items() for c, v in t.items()},
            **{f"{lab}/{c} - outcome": d[0] for lab, ds in all_diffs.items() for c, d in ds.items()},
        },
    )


def ladder_figure(run: str, ranges: Mapping[str, list[int]], fig_dir: Path) -> Finding:
    path = Path(f"reports/ladder/{run}.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: ladder of '{run}' has not been evaluated")
    df = inputs.parquet(path, f"ladder of '{run}'")
    per_op = [*ranges.get("id", []), *ranges.get("edge", [])]
    groups = {**{r: o for r, o in ranges.items()}, **{f"op {op}": [op] for op in per_op}}
    plots.ladder(df, groups, fig_dir / "ladder.png")
    last = df.filter(pl.col("step") == df["step"].max())
    rows = []
    for op in sorted(set(last["op"].to_list())):
        sub = last.filter(pl.col("op") == op)
        n = int(sub["n"].min())
        p1 = float(pass_at_k_array(sub["n"].to_numpy(), sub["c_strict"].to_numpy(), 1).mean())
        pn = float(pass_at_k_array(sub["n"].to_numpy(), sub["c_strict"].to_numpy(), n).mean())
        rows.append([str(op), pct(p1), pct(pn)])
    return Finding(
        "ladder",
        "The performance ladder during pre-training (Fig. 9)",
        "—",
        "Strict pass@1 / pass@n per op at the end of pre-training.",
        [_table(["op", "pass@1", "pass@n"], rows)],
        ["ladder.png"],
        {},
    )


def as_markdown(f: Finding) -> str:
    parts = [f"## {f.title}", "", f"**Verdict: {f.verdict}.** {f.summary}", ""]
    for t in f.tables:
        parts += [t, ""]
    for fig in f.figures:
        parts += [f"![{fig}](figures/{f.key}/{fig})", ""]
    return "\n".join(parts)
