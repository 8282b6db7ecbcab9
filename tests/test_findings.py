"""Findings: verdicts follow the data (synthetic evaluations), figures are written, the report assembles."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

import stagerun
from interplay import findings as F
from interplay.passk import bootstrap_ci

RANGES = {"id": [2, 3], "edge": [4, 5], "hard": [6, 7]}


def fake_eval(
    rates: dict[int, float], n: int = 16, per_op: int = 20, seed: int = 0, length=lambda op: 10.0
) -> pl.DataFrame:
    """Per-problem counts drawn from a per-op success rate (problem ids shared across models); the
    completions' mean length ``length(op)``, the gold trace 10 tokens per op."""
    rng = np.random.default_rng(seed)
    rows = []
    for op, p in rates.items():
        for i in range(per_op):
            c = int(rng.binomial(n, p))
            rows.append(
                {
                    "id": f"op{op}-{i}",
                    "op": op,
                    "context": "zoo",
                    "n": n,
                    "c_strict": c,
                    "c_answer": c,
                    "cat_correct": c,
                    "cat_dependency": n - c,
                    "cat_missing": 0,
                    "cat_value": 0,
                    "cat_answer": 0,
                    "mean_len": float(length(op)),
                    "gold_len": 10 * op,
                    "n_truncated": 0,
                }
            )
    return pl.DataFrame(rows)


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports/eval").mkdir(parents=True)
    return tmp_path


def write(name, df, zero=(0.75, 0.5), verified=(0.125, 0.25), prompts=4, rollouts=4):
    """An evaluation, and the RL logs of the run of the same name (``zero``: each step's share of
    groups whose rewards are all equal; ``verified``: each step's share of verified rollouts)."""
    df.write_parquet(f"reports/eval/{name}.parquet")
    logs = Path("reports/train") / name / "plots" / "metrics"
    for metric, values in (("groups/zero_variance_frac", zero), ("reward/verified", verified)):
        (logs / metric).parent.mkdir(parents=True, exist_ok=True)
        col = metric.split("/")[1]
        lines = [f"step\t{col}", *[f"{i + 1}\t{v}" for i, v in enumerate(values)]]
        (logs / f"{metric}.tsv").write_text("\n".join(lines) + "\n")
    meta = {"steps": len(zero), "prompts": prompts * len(zero), "rollouts": rollouts}
    (logs.parent.parent / "metrics.json").write_text(json.dumps(meta))


EDGE_CFG = {
    "base": "base",
    "rl": {"ID": "rl_id", "edge": "rl_edge", "hard": "rl_hard"},
    "edge_label": "edge",
    "id_label": "ID",
    "hard_label": "hard",
}
FLAT = {2: 0.9, 3: 0.8, 4: 0.05, 5: 0.02, 6: 0.0, 7: 0.0}


def test_edge_finding_reproduced_when_edge_rl_lifts_edge(workdir):
    write("base", fake_eval(FLAT))
    write("rl_id", fake_eval({2: 0.95, 3: 0.85, 4: 0.05, 5: 0.02, 6: 0.0, 7: 0.0}, seed=1))
    write("rl_edge", fake_eval({2: 0.9, 3: 0.8, 4: 0.4, 5: 0.3, 6: 0.01, 7: 0.0}, seed=2))
    write("rl_hard", fake_eval(FLAT, seed=9))
    cfg = EDGE_CFG
    f = F.edge_of_competence(cfg, RANGES, Path("figs"))
    assert f.verdict == "reproduced" and f.metrics["d_edge"] > 0.2
    assert f.metrics["d_edge_vs_id"] > 0.2 and f.metrics["d_edge_vs_hard"] > 0.2
    assert "edge - hard, OOD-edge pass@n" in f.tables[0] and "not above 0" in f.tables[0]
    assert (workdir / "figs/edge_passk.png").stat().st_size > 1000
    md = F.as_markdown(f)
    assert "Verdict: reproduced" in md and "figures/edge/edge_passk.png" in md


def test_edge_finding_not_reproduced_without_gain(workdir):
    write("base", fake_eval(FLAT))
    write("rl_id", fake_eval(FLAT, seed=3))
    write("rl_edge", fake_eval(FLAT, seed=4))
    write("rl_hard", fake_eval(FLAT, seed=9))
    assert F.edge_of_competence(EDGE_CFG, RANGES, Path("figs")).verdict in ("not reproduced",)


def test_edge_finding_needs_the_gain_only_at_the_edge(workdir):
    lifted = {2: 0.9, 3: 0.8, 4: 0.4, 5: 0.3, 6: 0.01, 7: 0.0}
    write("base", fake_eval(FLAT))
    write("rl_id", fake_eval(FLAT, seed=3))
    write("rl_edge", fake_eval(lifted, seed=2))
    write("rl_hard", fake_eval(lifted, seed=9))  # RL on the hard range lifts the edge just as much
    f = F.edge_of_competence(EDGE_CFG, RANGES, Path("figs"))
    assert f.verdict != "reproduced" and abs(f.metrics["d_edge_vs_hard"]) < 0.1
    # RL on ID data that lifts ID pass@n fails the rule even when the edge gain holds
    write("rl_hard", fake_eval(FLAT, seed=9))
    write("rl_id", fake_eval({2: 1.0, 3: 1.0, 4: 0.05, 5: 0.02, 6: 0.0, 7: 0.0}, n=16, seed=3))
    base_low = fake_eval({2: 0.05, 3: 0.05, 4: 0.05, 5: 0.02, 6: 0.0, 7: 0.0})
    write("base", base_low)
    assert F.edge_of_competence(EDGE_CFG, RANGES, Path("figs")).verdict == "not reproduced"


def test_edge_finding_direction_only_when_the_gain_is_within_noise(workdir):
    write("base", fake_eval(FLAT))
    write("rl_id", fake_eval(FLAT, seed=3))
    write("rl_hard", fake_eval(FLAT, seed=9))
    for seed in range(10, 40):  # a small lift: find data where every estimate is positive, not all sure
        write("rl_edge", fake_eval({**FLAT, 4: 0.09, 5: 0.04}, seed=seed))
        f = F.edge_of_competence(EDGE_CFG, RANGES, Path("figs"))
        m = f.metrics
        if min(m["d_edge"], m["d_edge_vs_id"], m["d_edge_vs_hard"]) > 0 and f.verdict != "reproduced":
            break
    assert f.verdict == "direction only"


def test_edge_finding_compares_at_the_edge_on_the_edge_set(workdir):
    flat = {2: 0.9, 3: 0.8, 4: 0.05, 5: 0.02, 6: 0.0, 7: 0.0}
    lifted = {2: 0.9, 3: 0.8, 4: 0.4, 5: 0.3, 6: 0.0, 7: 0.0}
    write("base", fake_eval(flat))
    write("rl_id", fake_eval(flat, seed=3))
    write("rl_hard", fake_eval(flat, seed=9))
    write("rl_edge", fake_eval(flat, seed=4))  # no gain on the main evaluation ...
    write("base_set", fake_eval({4: 0.05, 5: 0.02}, per_op=60, seed=5))
    write("rl_id_set", fake_eval({4: 0.05, 5: 0.02}, per_op=60, seed=6))
    write("rl_hard_set", fake_eval({4: 0.05, 5: 0.02}, per_op=60, seed=8))
    write("rl_edge_set", fake_eval({4: 0.4, 5: 0.3}, per_op=60, seed=7))  # ... a gain on the edge set
    cfg = EDGE_CFG
    sets = {"base": "base_set", "ID": "rl_id_set", "edge": "rl_edge_set", "hard": "rl_hard_set"}
    with_set = {**cfg, "edge_set": sets}
    f = F.edge_of_competence(with_set, RANGES, Path("figs"))
    assert f.verdict == "reproduced" and f.metrics["d_edge"] > 0.2 and f.metrics["edge_problems"] == 120
    assert "(points, 120 problems)" in f.tables[2] and "on 120 problems" in f.summary
    # the edge set's rows stand in for the runs' own edge-op rows in every table, not only the rule
    set_value = F.value(F.load_eval("rl_edge_set"), RANGES["edge"], "n")[0]
    assert f.metrics["edge/edge/pass@n"] == pytest.approx(set_value) and f.metrics["seeds"]["edge"] == 1
    assert F.edge_of_competence(cfg, RANGES, Path("figs")).verdict == "not reproduced"
    # and the other way round: the verdict reads the edge set, not the main evaluation
    write("rl_edge", fake_eval(lifted, seed=4))
    write("rl_edge_set", fake_eval({4: 0.05, 5: 0.02}, per_op=60, seed=7))
    assert F.edge_of_competence(cfg, RANGES, Path("figs")).verdict == "reproduced"
    assert F.edge_of_competence(with_set, RANGES, Path("figs")).verdict == "not reproduced"


def test_runs_evaluated_without_the_edge_ops_read_them_from_the_edge_set(workdir):
    """A run's edge ops sampled once: evaluating it at the ID and hard ops only, with its edge set,
    gives the finding a full evaluation plus the same edge set gives (seeds paired in order)."""
    sets = {
        "base": "base_set",
        **{k: [f"rl_{k.lower()}_set", f"rl_{k.lower()}_s1_set"] for k in ("ID", "edge", "hard")},
    }
    for i, name in enumerate(["base", "rl_id", "rl_id_s1", "rl_edge", "rl_edge_s1", "rl_hard", "rl_hard_s1"]):
        full = fake_eval(FLAT, seed=i)
        write(name, full)
        write(f"{name}_full", full)
        write(f"{name}_set", fake_eval({4: 0.3 if "edge" in name else 0.05, 5: 0.02}, per_op=60, seed=20 + i))
        write(name, full.filter(~pl.col("op").is_in(RANGES["edge"])))  # the edge ops left out
    runs = {"ID": ["rl_id", "rl_id_s1"], "edge": ["rl_edge", "rl_edge_s1"], "hard": ["rl_hard", "rl_hard_s1"]}
    cfg = {**EDGE_CFG, "rl": runs, "edge_set": sets}
    full = {**cfg, "base": "base_full", "rl": {k: [f"{n}_full" for n in v] for k, v in runs.items()}}
    cut, whole = (F.edge_of_competence(c, RANGES, Path("figs")) for c in (cfg, full))
    assert cut.verdict == whole.verdict == "reproduced" and cut.summary == whole.summary
    assert cut.metrics["seeds"] == {"ID": 2, "edge": 2, "hard": 2}
    assert json.dumps(cut.metrics, sort_keys=True) == json.dumps(whole.metrics, sort_keys=True)
    assert cut.tables[1:3] == whole.tables[1:3]
    sets["edge"] = ["rl_edge_set"]  # one edge evaluation for two training seeds
    with pytest.raises(ValueError, match="1 evaluation"):
        F.edge_of_competence(cfg, RANGES, Path("figs"))


def test_figures_stage_names_a_bad_edge_set(workdir):
    runs = "{base: {}, rl_id: {}, rl_edge: {}, rl_hard: {}, base_set: {}}"
    edge = (
        "{base: base, rl: {ID: rl_id, edge: rl_edge, hard: rl_hard}, edge_label: edge, id_label: ID, "
        "hard_label: hard, edge_set: {base: base_set, edge: rl_edge, hard: rl_hard}}"  # none for 'ID'
    )
    (workdir / "params.yaml").write_text(
        f"evaluate:\n  ranges: {{id: '2-3', edge: '4-5'}}\n  runs: {runs}\nfindings:\n  edge: {edge}\n"
    )
    r = stagerun.script(workdir, "figures", "edge")
    assert r.returncode != 0 and "findings.edge.edge_set" in r.stderr and "ID" in r.stderr
    assert not (workdir / "reports/findings").exists()


def test_process_and_midrl_and_context(workdir):
    write("out", fake_eval({2: 0.3, 3: 0.2, 4: 0.1, 5: 0.05, 6: 0.0, 7: 0.0}))
    write("proc", fake_eval({2: 0.6, 3: 0.5, 4: 0.3, 5: 0.2, 6: 0.02, 7: 0.0}, seed=5))
    f = F.process_rewards(
        {
            "runs": {"outcome": "out", "0.2/0.8": "proc"},
            "outcome_label": "outcome",
            "op_groups": [[2, 3, 4, 5], [6, 7]],
        },
        RANGES,
        Path("figs"),
    )
    assert f.verdict == "reproduced" and len(f.tables) == 5 and "Reward signal" in f.tables[4]
    assert "Holm" in f.tables[0] and "0.2/0.8 - outcome, pass@1 op 2-5" in f.summary
    # the paired-difference table: one row per non-outcome reward (its pass@1 cell: the same mean)
    diff_row = next(line for line in f.tables[2].splitlines() if line.startswith("| 0.2/0.8 |"))
    assert diff_row.split("|")[2].strip().split(" ")[0] in f.tables[0]
    assert f.metrics["0.2/0.8/op 2-5 @1 - outcome"] > 0.1 and "outcome/op 2-5 @1 - outcome" not in f.metrics
    write("b0", fake_eval({2: 0.5, 3: 0.0, 4: 0.0}))
    write("b10", fake_eval({2: 0.9, 3: 0.5, 4: 0.3}, seed=6))
    f = F.context_seed(
        {"rl": {"0%": "b0", "10%": "b10"}, "zero_label": "0%", "seeded_labels": ["10%"]}, [3, 4], Path("figs")
    )
    assert f.verdict == "reproduced"
    per_op = f.tables[2]
    assert "op 2 (not in verdict)" in per_op and "| op 3 |" in per_op
    row_b0 = next(line for line in per_op.splitlines() if line.startswith("| 0% |"))
    assert row_b0.split("|")[2].strip() != "0.0" and row_b0.split("|")[3].strip() == "0.0"
    write("rlonly", fake_eval({4: 0.3, 5: 0.2, 6: 0.0, 7: 0.0}))
    write("mixed", fake_eval({4: 0.3, 5: 0.2, 6: 0.3, 7: 0.2}, seed=7))
    write("midonly", fake_eval({4: 0.6, 5: 0.5, 6: 0.0, 7: 0.0}, seed=8))
    f = F.mid_vs_rl(
        {
            "runs": {"mid only": "midonly", "RL only": "rlonly", "beta 0.5": "mixed"},
            "rl_only_label": "RL only",
            "mid_only_label": "mid only",
        },
        RANGES,
        Path("figs"),
    )
    assert f.verdict == "reproduced" and "mid only -" not in f.summary
    # differences against RL alone for every other split, the mid-only one included (on the edge)
    assert f.metrics["beta 0.5/hard @n - rl_only"] > 0.2 and f.metrics["mid only/edge @1 - rl_only"] > 0.1
    assert abs(f.metrics["beta 0.5/edge @1 - rl_only"]) < 0.1
    assert "| mid only |" in f.tables[2] and "| RL only |" not in f.tables[2]
    # OOD-hard from the pilot ("beta 0.5"): its pass@n is about 1.0 at op 6 and 7 -> op 6-7; with a
    # threshold above every op's value -> op 6 alone, and the verdict reads op 6 only
    from interplay.verdicts import PilotRule

    cfg = {
        "runs": {"mid only": "midonly", "RL only": "rlonly", "beta 0.5": "mixed"},
        "rl_only_label": "RL only",
        "mid_only_label": "mid only",
    }
    f = F.mid_vs_rl({**cfg, "hard_from_pilot": PilotRule("beta 0.5", 6, 16, 0.5)}, RANGES, Path("figs"))
    assert f.metrics["ood_hard/first_op"] == 6 and f.metrics["ood_hard/last_op"] == 7
    assert f.summary.startswith("OOD-hard = op 6-7 by the pilot rule") and "| 7 |" in f.tables[0]
    g = F.mid_vs_rl(
        {**cfg, "hard_from_pilot": PilotRule("beta 0.5", 6, 1, 0.99)}, {**RANGES, "hard": [6]}, Path("figs")
    )
    h = F.mid_vs_rl({**cfg, "hard_from_pilot": PilotRule("beta 0.5", 6, 1, 0.99)}, RANGES, Path("figs"))
    assert h.metrics["ood_hard/last_op"] == 6 and "| 7 | " in h.tables[0] and "| no |" in h.tables[0]
    assert h.metrics["beta 0.5/hard @n - rl_only"] == g.metrics["beta 0.5/hard @n - rl_only"]


def test_a_holm_verdicts_cells_carry_one_interval_in_every_table(workdir):
    """One interval per quantity: where a Holm verdict rests on a cell of the difference table, the
    table shows the verdict's corrected interval (marked), not a second, plain 95% one."""
    write("out", fake_eval({2: 0.3, 3: 0.2, 4: 0.1, 5: 0.05, 6: 0.0, 7: 0.0}))
    write("p1", fake_eval({2: 0.5, 3: 0.4, 4: 0.2, 5: 0.1, 6: 0.0, 7: 0.0}, seed=5))
    write("p2", fake_eval({2: 0.4, 3: 0.3, 4: 0.2, 5: 0.1, 6: 0.0, 7: 0.0}, seed=6))
    cfg = {"runs": {"outcome": "out", "a": "p1", "b": "p2"}, "outcome_label": "outcome"}
    f = F.process_rewards({**cfg, "op_groups": [[2, 3, 4, 5], [6, 7]]}, RANGES, Path("figs"))
    rule_rows = {r.split("|")[1].strip(): r.split("|")[2].strip() for r in f.tables[0].splitlines()[2:]}
    assert "Holm level" in f.tables[0].splitlines()[0]
    levels = sorted(name.split("(Holm ")[1].rstrip(")") for name in rule_rows)
    assert levels == ["0.9500", "0.9750"]  # two comparisons: one interval is wider than 95%
    diff = {
        r.split("|")[1].strip(): r.split("|")[2:-1]
        for r in f.tables[2].splitlines()[2:]
        if r.startswith("| ")
    }
    for lab in ("a", "b"):
        cell = diff[lab][0].strip()
        name = next(n for n in rule_rows if n.startswith(f"{lab} - outcome"))
        assert cell == f"{rule_rows[name]} (Holm)", (cell, rule_rows[name])
        assert all("Holm" not in c for c in diff[lab][1:])  # the cells no verdict rests on: plain 95%
    assert "marked (Holm) are the verdict's" in f.tables[2]


def test_missing_evaluation_is_named(workdir):
    with pytest.raises(FileNotFoundError, match="evaluation 'ghost'"):
        F.load_eval("ghost")


def test_paired_difference_uses_shared_problems():
    a = fake_eval({2: 0.5}, seed=1)
    d, lo, hi = F.paired_diff(a, a, [2], 1)
    assert d == 0.0 and lo == hi == 0.0


def test_report_stage_assembles(workdir):
    (workdir / "params.yaml").write_text("findings:\n  edge: {}\n")
    (workdir / "reports/findings").mkdir(parents=True)
    f = F.Finding("edge", "Finding 1", "reproduced", "numbers", ["| a |\n|---|\n| 1 |"], ["x.png"], {})
    (workdir / "reports/findings/edge.json").write_text(json.dumps(f.__dict__))
    r = stagerun.script(workdir, "report")
    assert r.returncode == 0, r.stderr
    text = (workdir / "reports/report.md").read_text()
    assert "| Finding 1 | reproduced |" in text and "*Paper:*" in text


def test_report_needs_every_finding_unless_partial(workdir):
    (workdir / "params.yaml").write_text("findings:\n  edge: {}\n  process: {}\n")
    (workdir / "reports/findings").mkdir(parents=True)
    f = F.Finding("edge", "Finding 1", "reproduced", "numbers", [], [], {})
    (workdir / "reports/findings/edge.json").write_text(json.dumps(f.__dict__))
    r = stagerun.script(workdir, "report")
    assert r.returncode != 0 and "reports/findings/process.json" in r.stderr
    assert not (workdir / "reports/report.md").exists()
    r = stagerun.script(workdir, "report", "--partial")
    assert r.returncode == 0, r.stderr
    text = (workdir / "reports/report.md").read_text()
    assert "| Finding 1 | reproduced |" in text and "findings.process | not computed yet" in text


def test_figure_stage_must_declare_what_it_reads(tmp_path):
    from interplay import jobs
    from interplay.params import ParamsError

    root = Path(__file__).resolve().parents[1]
    y = tmp_path / "dvc.yaml"
    y.write_text("stages:\n  figures_edge:\n    cmd: x\n    deps: [reports/eval/base.parquet]\n")
    jobs.check_declared("edge", ["reports/eval/base.parquet"], y)  # declared: fine
    with pytest.raises(ParamsError, match=r"findings\.edge.*reports/eval/rl_id\.parquet"):
        jobs.check_declared("edge", ["reports/eval/base.parquet", "reports/eval/rl_id.parquet"], y)
    with pytest.raises(ParamsError, match="no stage 'figures_process'"):
        jobs.check_declared("process", [], y)
    # the real dvc.yaml declares what the default findings read
    jobs.check_declared("edge", ["reports/eval/rl_edge.parquet"], root / "dvc.yaml")


def test_dvc_plots_overlay_the_evaluations_each_finding_compares():
    """The top-level plots of dvc.yaml draw, for each finding, exactly the evaluations that
    params.yaml's findings section compares (finding 1 on its edge set)."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    plots = yaml.safe_load((root / "dvc.yaml").read_text())["plots"]
    p = yaml.safe_load((root / "params.yaml").read_text())["findings"]
    drawn = {}
    for entry in plots:
        if isinstance(entry, dict):
            ((name, props),) = entry.items()
            if name.startswith("finding "):
                drawn[name.split(":")[0]] = {Path(f).stem for f in props["y"]}

    def names(runs):  # a run with several training seeds lists one evaluation per seed
        return {n for v in runs.values() for n in (v if isinstance(v, list) else [v])}

    want = {
        "finding 1": names(p["edge"]["edge_set"]),
        "finding 4": names(p["process"]["runs"]),
        "finding 3": names(p["midrl"]["runs"]),
        "finding 2": names(p["context"]["rl"]) | names(p["context"].get("variants", {})),
    }
    assert drawn == want
    ranges = set(yaml.safe_load((root / "params.yaml").read_text())["evaluate"]["ranges"])
    by_range = [e for e in plots if isinstance(e, dict) and "reports/plots/passk" in e]
    assert by_range and set(by_range[0]["reports/plots/passk"]["y"]) == ranges


def test_figures_leave_out_what_is_zero_everywhere_and_say_so(tmp_path):
    from interplay import plots

    evals = {"a": fake_eval({2: 0.5, 3: 0.4, 6: 0.0}), "b": fake_eval({2: 0.6, 3: 0.3, 6: 0.0}, seed=1)}
    empty = plots.passk_curves(evals, {"id": [2, 3], "hard": [6]}, "t", tmp_path / "p.png")
    assert empty == ["hard (op 6-6)"] and (tmp_path / "p.png").stat().st_size > 1000
    table = {"a": {"x @1": 0.2, "z @1": 0.0}, "b": {"x @1": 0.3, "z @1": 0.0}}
    assert plots.grouped_bars(table, "t", "y", tmp_path / "b.png") == ["z @1"]


def test_a_run_with_training_seeds_is_the_list_of_their_evaluations(workdir):
    """Seeds: values are means over seeds and problems; the interval resamples seeds as well, so a
    run whose seeds disagree gets a wider interval than any one seed alone."""
    write("base", fake_eval(FLAT))
    write("rl_id", fake_eval(FLAT, seed=3))
    write("rl_hard", fake_eval(FLAT, seed=9))
    seeds = {  # one seed lifts the edge a lot, two a little: the mean gain is real but seed-dependent
        "rl_edge": {**FLAT, 4: 0.6, 5: 0.5},
        "rl_edge_s1": {**FLAT, 4: 0.12, 5: 0.08},
        "rl_edge_s2": {**FLAT, 4: 0.1, 5: 0.06},
    }
    for i, (name, rates) in enumerate(seeds.items()):
        write(name, fake_eval(rates, seed=20 + i))
    base = F.load_eval("base")
    runs = F.load_eval(list(seeds))
    assert F.n_seeds(runs) == 3 and F.n_seeds(base) == 1
    per_seed = [F.paired_diff(F.load_eval(n), base, [4, 5], 1) for n in seeds]
    m, lo, hi = F.paired_diff(runs, base, [4, 5], 1)
    assert m == pytest.approx(np.mean([d[0] for d in per_seed]))  # the mean over seeds
    # seed-to-seed spread widens the interval: beyond any one seed's, and beyond a bootstrap that
    # took the 3 x 40 (seed, problem) rows for 120 independent problems
    assert hi - lo > max(d[2] - d[1] for d in per_seed)
    flat_lo, flat_hi = bootstrap_ci(F._paired_values(runs, base, [4, 5], 1).reshape(-1))
    assert hi - lo > 1.5 * (flat_hi - flat_lo)
    v, vlo, vhi = F.value(runs, [4, 5], "n")
    assert v == pytest.approx(np.mean([F.value(F.load_eval(n), [4, 5], "n")[0] for n in seeds]))
    assert vlo < v < vhi and F.n_problems(runs, [4, 5]) == 40

    cfg = {**EDGE_CFG, "rl": {**EDGE_CFG["rl"], "edge": list(seeds)}}
    f = F.edge_of_competence(cfg, RANGES, Path("figs"))
    assert f.metrics["seeds"] == {"ID": 1, "edge": 3, "hard": 1}
    assert "training seeds: base 1, ID 1, edge 3, hard 1" in f.summary
    assert f.metrics["d_edge"] == pytest.approx(F.paired_diff(runs, base, [4, 5], "n")[0])
    # two multi-seed runs pair seed by seed, and must list as many
    write("rl_id_s1", fake_eval(FLAT, seed=31))
    with pytest.raises(ValueError, match="cannot pair 3 training seeds with 2"):
        F.paired_diff(runs, F.load_eval(["rl_id", "rl_id_s1"]), [4, 5], "n")


def test_params_name_seed_lists_and_their_counts():
    from interplay import jobs
    from interplay.params import ParamsError

    root = Path(__file__).resolve().parents[1]
    p = yaml.safe_load((root / "params.yaml").read_text())
    evals = p["evaluate"]["runs"]
    for name in ("rl_edge_s3", "rl_edge_s4", "rl_id_s3"):
        evals[name] = {"model": "base", "dataset": "eval"}
    f1 = p["findings"]["edge"]
    del f1["edge_set"]  # without an edge set the runs' own evaluations must sample the edge ops
    for name, run in evals.items():
        if name.startswith(("rl_edge", "rl_id", "rl_hard")):
            run.pop("ops", None)
    f1["rl"] = {"edge": ["rl_edge", "rl_edge_s3", "rl_edge_s4"], "ID": "rl_id", "hard": "rl_hard"}
    f1.update(edge_label="edge", id_label="ID", hard_label="hard")
    y = root / "dvc.yaml"
    with pytest.raises(ParamsError, match=r"findings\.edge.*reports/eval/rl_edge_s3\.parquet"):
        jobs.figures(p, "edge", y)  # dvc.yaml must declare every seed's evaluation
    f1["rl"]["edge"] = ["rl_edge", "nope"]
    with pytest.raises(ParamsError, match=r"findings\.edge\.rl\.edge\[1\]: 'nope' is not an evaluate run"):
        jobs.figures(p, "edge", y)
    f1["rl"]["edge"] = []
    with pytest.raises(ParamsError, match=r"findings\.edge\.rl\.edge: expected a non-empty list"):
        jobs.figures(p, "edge", y)
    f1["rl"]["edge"] = ["rl_edge", "rl_edge_s1", "rl_edge_s2"]
    f1["rl"]["ID"] = ["rl_id", "rl_id_s1"]
    with pytest.raises(ParamsError, match=r"findings\.edge\.rl\.ID: lists 2 seeds but 'edge' lists 3"):
        jobs.figures(p, "edge", y)


def test_reward_curves_draw_the_mean_of_a_runs_seeds(tmp_path):
    from interplay import plots

    dirs = []
    for i, vals in enumerate(([0.0, 0.2, 0.4], [0.2, 0.4, 0.6])):
        d = tmp_path / f"s{i}"
        (d / "plots/metrics/reward").mkdir(parents=True)
        rows = "".join(f"{s}\t{v}\n" for s, v in enumerate(vals))
        (d / "plots/metrics/reward/mean.tsv").write_text("step\treward/mean\n" + rows)
        dirs.append(d)
    import matplotlib.pyplot as plt

    drawn = {}
    real_plot = plt.Axes.plot

    def spy(self, x, y, *a, label=None, **kw):
        drawn[label] = list(y)
        return real_plot(self, x, y, *a, label=label, **kw)

    plt.Axes.plot = spy
    try:
        plots.reward_curves({"edge": dirs, "one": dirs[0]}, tmp_path / "r.png")
    finally:
        plt.Axes.plot = real_plot
    assert drawn["edge (mean of 2 seeds)"] == pytest.approx([0.1, 0.3, 0.5])
    assert drawn["one"] == pytest.approx([0.0, 0.2, 0.4])


def test_figure_bands_quote_the_tables_interval(workdir):
    """One estimate for a pass@k everywhere: the pass@k curve's band at k is the interval the
    findings' tables (and metrics files) quote, for a single run and for a run's stacked seeds."""
    from interplay import plots

    for i in range(3):
        write(f"r{i}", fake_eval({4: 0.2 + 0.1 * i, 5: 0.1}, seed=i))
    for df in (F.load_eval("r0"), F.load_eval(["r0", "r1", "r2"])):
        ks, vals, lo, hi = plots.passk_band(df, [4, 5])
        for j, k in enumerate(ks):
            assert (vals[j], lo[j], hi[j]) == F.value(df, [4, 5], k)


def test_context_reports_the_seed_models_before_rl(workdir):
    write("b0", fake_eval({2: 0.5, 3: 0.0, 4: 0.0}))
    write("b10", fake_eval({2: 0.9, 3: 0.5, 4: 0.3}, seed=6))
    write("pre0", fake_eval({2: 0.4, 3: 0.0, 4: 0.0}, seed=2))
    write("pre10", fake_eval({2: 0.8, 3: 0.25, 4: 0.0}, seed=3))
    cfg = {"rl": {"0%": "b0", "10%": "b10"}, "zero_label": "0%", "seeded_labels": ["10%"]}
    without = F.context_seed(cfg, [3, 4], Path("figs"))
    f = F.context_seed({**cfg, "before": {"0%": "pre0", "10%": "pre10"}}, [3, 4], Path("figs"))
    assert f.verdict == without.verdict and len(f.tables) == len(without.tables) + 2
    before = next(t for t in f.tables if "of the seed models before RL" in t)
    assert "before RL" in before and "before RL" in f.summary
    row = next(line for line in before.splitlines() if line.startswith("| 10% |")).split("|")
    # columns: label, pass@n on ops 3-4 with its interval, then op 2, 3, 4
    assert row[3].strip() != "0.0" and row[4].strip() != "0.0" and row[5].strip() == "0.0"
    assert f.metrics["0%/before_rl/pass@n"] == 0.0 and f.metrics["10%/before_rl/pass@n"] > 0.0


def test_context_shows_how_long_the_seed_models_write_in_context_b(workdir):
    """The length table: each model's mean completion length against the gold trace's, per op, before
    and after RL (a model that writes the seeded op's length at every op does not transfer)."""
    write("b0", fake_eval({2: 0.5, 3: 0.0, 4: 0.0}, length=lambda op: 20))
    write("b10", fake_eval({2: 0.9, 3: 0.5, 4: 0.3}, seed=6, length=lambda op: 10 * op))
    write("pre10", fake_eval({2: 0.8, 3: 0.0, 4: 0.0}, seed=3, length=lambda op: 21))
    cfg = {"rl": {"0%": "b0", "10%": "b10"}, "zero_label": "0%", "seeded_labels": ["10%"]}
    f = F.context_seed({**cfg, "before": {"10%": "pre10"}}, [3, 4], Path("figs"))
    table = next(t for t in f.tables if "completion length / gold trace length" in t)
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in table.splitlines()[4:]}
    assert [c.strip() for c in rows["10%, before RL"]] == ["21 / 20", "21 / 30", "21 / 40"]
    assert [c.strip() for c in rows["0%, after RL"]] == ["20 / 20", "20 / 30", "20 / 40"]
    assert [c.strip() for c in rows["10%, after RL"]] == ["20 / 20", "30 / 30", "40 / 40"]


def test_each_verdict_shows_the_reward_signal_its_rl_runs_saw(workdir):
    """Groups with signal and verified rollouts, summed over steps and training seeds, from each RL
    run's logs; a run whose logs skip steps shows none rather than a partial sum."""
    write("e0", fake_eval({4: 0.2}), zero=(0.75, 0.5), verified=(0.125, 0.25))  # 1 + 2 groups; 2 + 4
    write("e1", fake_eval({4: 0.2}), zero=(1.0, 0.25), verified=(0.0, 0.5))  # 0 + 3 groups; 0 + 8
    write("h0", fake_eval({4: 0.0}), zero=(1.0, 1.0), verified=(0.0, 0.0))
    assert F.rl_signal("e0") == {"signal_groups": 3, "groups": 8, "verified": 6, "rollouts": 32}
    table, metrics = F.signal_table({"edge": ["e0", "e1"], "hard": "h0"})
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in table.splitlines()[4:]
    }
    assert rows["edge"] == ["2", "6 of 16", "14 of 64"] and rows["hard"] == ["1", "0 of 8", "0 of 32"]
    assert metrics["edge/signal/signal_groups"] == 6 and metrics["hard/signal/verified"] == 0
    meta = json.loads(Path("reports/train/h0/metrics.json").read_text())
    Path("reports/train/h0/metrics.json").write_text(json.dumps({**meta, "steps": 4, "prompts": 16}))
    assert F.rl_signal("h0") is None  # 2 logged steps of 4 (log_every 2)
    rows = {line.split("|")[1].strip(): line for line in F.signal_table({"hard": "h0"})[0].splitlines()[4:]}
    assert rows["hard"].replace(" ", "") == "|hard|1|-|-|"


def test_context_shows_other_rl_recipes_outside_the_verdict(workdir):
    """An RL variant from a seed model (the paper's A.6.2: more B in RL) gets its own per-op row and
    metric; the verdict and its rule table are those of the finding's runs alone."""
    write("b0", fake_eval({2: 0.5, 3: 0.0, 4: 0.0}))
    write("b10", fake_eval({2: 0.9, 3: 0.5, 4: 0.3}, seed=6))
    write("allb", fake_eval({2: 0.95, 3: 0.0, 4: 0.4}, seed=7))
    cfg = {"rl": {"0%": "b0", "10%": "b10"}, "zero_label": "0%", "seeded_labels": ["10%"]}
    without = F.context_seed(cfg, [3, 4], Path("figs"))
    f = F.context_seed({**cfg, "variants": {"10%, all-B RL": "allb"}}, [3, 4], Path("figs"))
    assert f.verdict == without.verdict and f.tables[0] == without.tables[0]
    table = next(t for t in f.tables if "other RL recipes" in t)
    row = next(line for line in table.splitlines() if line.startswith("| 10%, all-B RL |")).split("|")
    assert row[4].strip() == "0.0" and row[5].strip() != "0.0"  # op 3 never solved, op 4 sometimes
    assert "10%, all-B RL" in f.summary and f.metrics["10%, all-B RL/pass@n"] > 0.0


def test_a_finding_may_set_its_own_ranges_and_seed_models(tmp_path):
    from interplay import jobs
    from interplay.params import ParamsError

    root = Path(__file__).resolve().parents[1]
    p = yaml.safe_load((root / "params.yaml").read_text())
    y = root / "dvc.yaml"
    job = jobs.figures(p, "midrl", y)  # OOD-hard from the pilot: decided by the finding itself
    assert job.cfg["hard_from_pilot"].first_op == 8 and job.cfg["hard_from_pilot"].k == 128
    assert job.ranges["edge"] == [6, 7]  # the finding's own OOD-edge (params.yaml)
    p["findings"]["midrl"]["ranges"] = {"edge": "6-7", "hard": "9-10"}
    with pytest.raises(ParamsError, match=r"findings\.midrl\.ranges\.hard: OOD-hard is set by findings"):
        jobs.figures(p, "midrl", y)
    rule = p["findings"]["midrl"].pop("hard_from_pilot")
    del p["findings"]["midrl"]["ranges"]
    bads = (({"label": "nope"}, "label"), ({"min_pass": 1.5}, "min_pass"), ({"k": 0}, "k"), ({"k": 129}, "k"))
    for bad, where in bads:
        p["findings"]["midrl"]["hard_from_pilot"] = {**rule, **bad}
        with pytest.raises(ParamsError, match=rf"findings\.midrl\.hard_from_pilot\.{where}"):
            jobs.figures(p, "midrl", y)
    p["findings"]["midrl"]["hard_from_pilot"] = rule
    job = jobs.figures(p, "midrl", y)
    assert job.ranges["hard"] == list(range(9, 15))  # evaluate.ranges' until the finding applies the rule
    del p["findings"]["midrl"]["hard_from_pilot"]
    p["findings"]["midrl"]["ranges"] = {"hard": "9-10"}
    job = jobs.figures(p, "midrl", y)
    assert job.ranges["hard"] == list(range(9, 11)) and job.ranges["edge"] == [6, 7, 8]
    assert "ranges" not in job.cfg
    p["findings"]["midrl"]["ranges"] = {"hard": "8-10"}  # overlaps the edge range 6-8
    with pytest.raises(ParamsError, match=r"findings\.midrl\.ranges\.hard: op 8 is also in range 'edge'"):
        jobs.figures(p, "midrl", y)
    job = jobs.figures(p, "context", y)
    assert "reports/eval/seed_b1.parquet" in job.reads
    p["findings"]["context"]["before"] = {"0%": "seed_b0"}
    with pytest.raises(ParamsError, match=r"findings\.context\.before: expected one evaluation for each"):
        jobs.figures(p, "context", y)
    p["findings"]["context"]["before"] = {"0%": "seed_b0", "0.1%": "x", "1%": "seed_b1", "10%": "seed_b10"}
    with pytest.raises(ParamsError, match=r"findings\.context\.before\.0\.1%: 'x' is not an evaluate run"):
        jobs.figures(p, "context", y)
    del p["findings"]["context"]["before"]
    p["findings"]["context"]["variants"] = {"all-B": "nope"}
    with pytest.raises(ParamsError, match=r"findings\.context\.variants\.all-B: 'nope' is not an evaluate"):
        jobs.figures(p, "context", y)


def test_a_finding_needs_its_ops_evaluated(tmp_path):
    from interplay import jobs
    from interplay.params import ParamsError
    from interplay.profile import apply

    root = Path(__file__).resolve().parents[1]
    y = root / "dvc.yaml"
    p = yaml.safe_load((root / "params.yaml").read_text())
    for key in ("edge", "process", "context", "midrl"):
        jobs.figures(p, key, y)  # the default covers what each finding reads
    evals = p["evaluate"]["runs"]
    cases = [
        ("rl_edge_p28_s1", "2-5", "process", r"findings\.process\.runs reads op \[6, 7, 8\]"),
        ("seed_b10", "2-4", "context", r"findings\.context\.before reads op \[5, 6, 7, 8\]"),
        ("rl_mixed_s2", "6-8", "edge", r"findings\.edge\.rl reads op \[2, 3, 4, 5\]"),
        ("rl_edge_s1", "6-8", "edge", r"findings\.edge\.rl reads op \[2, 3, 4, 5\]"),
        ("rl_id_edgeset", "6-7", "edge", r"findings\.edge\.edge_set reads op \[8\]"),
        ("rl_b80", "2-7", "midrl", r"findings\.midrl\.runs reads op \[8\]"),
    ]
    for name, ops, key, msg in cases:
        before = evals[name].get("ops")
        evals[name]["ops"] = ops
        with pytest.raises(ParamsError, match=rf"evaluate\.runs\.{name}\.ops: {msg}"):
            jobs.figures(p, key, y)
        evals[name].pop("ops")
        if before is not None:
            evals[name]["ops"] = before
    # the edge set stands in for the runs' edge ops seed by seed, so it lists one evaluation per seed
    edge_set = p["findings"]["edge"]["edge_set"]
    edge_set["RL edge"] = edge_set["RL edge"][0]
    msg = r"findings\.edge\.edge_set\.RL edge: lists 1 evaluation\(s\) for 3"
    with pytest.raises(ParamsError, match=msg):
        jobs.figures(p, "edge", y)
    # the paper profile evaluates its own ranges (op 11-14 edge, 15-20 hard), not the default's 2-8
    paper = apply("paper", root / "params.yaml", tmp_path / "params.yaml", root / "profiles")
    for key in ("edge", "process", "context", "midrl"):
        jobs.figures(paper, key, y)


def test_the_reward_signal_table_reads_the_rl_run_its_evaluation_names(tmp_path):
    """Each compared RL run's logs are declared deps of the finding's stage; an evaluation whose model
    is not the RL run of its name is refused before any figure is drawn."""
    from interplay import jobs
    from interplay.params import ParamsError

    root = Path(__file__).resolve().parents[1]
    p = yaml.safe_load((root / "params.yaml").read_text())
    y = root / "dvc.yaml"
    logs = F.rl_logs(p, "process", jobs.figures(p, "process", y).cfg, y)
    assert "reports/train/rl_edge_strict_s2/metrics.json" in logs
    assert "reports/train/rl_edge_p28/plots/metrics" in logs
    assert not any("mid_b0" in r for r in F.rl_logs(p, "midrl", jobs.figures(p, "midrl", y).cfg, y))
    d = tmp_path / "dvc.yaml"  # a stage that does not declare the logs: refused, naming them
    d.write_text(y.read_text().replace("      - reports/train/rl_b20/metrics.json\n", ""))
    with pytest.raises(ParamsError, match=r"findings\.midrl: reads reports/train/rl_b20/metrics\.json, not"):
        F.rl_logs(p, "midrl", jobs.figures(p, "midrl", y).cfg, d)
    p["evaluate"]["runs"]["rl_edge_p28"]["model"] = "rl_edge_p55"
    with pytest.raises(ParamsError, match=r"evaluate\.runs\.rl_edge_p28\.model: findings\.process reads"):
        F.rl_logs(p, "process", jobs.figures(p, "process", y).cfg, y)


def test_a_run_not_sampled_at_a_range_shows_a_dash_and_no_metric(workdir):
    # RL hard evaluated at the ID and edge ops only: no estimate at the hard ops, and no NaN in the JSON
    write("base", fake_eval(FLAT))
    write("rl_id", fake_eval({2: 0.95, 3: 0.85, 4: 0.05, 5: 0.02, 6: 0.0, 7: 0.0}, seed=1))
    write("rl_edge", fake_eval({2: 0.9, 3: 0.8, 4: 0.4, 5: 0.3, 6: 0.01, 7: 0.0}, seed=2))
    write("rl_hard", fake_eval(FLAT, seed=9).filter(pl.col("op") <= 5))
    f = F.edge_of_competence(EDGE_CFG, RANGES, Path("figs"))
    row = next(r for r in f.tables[1].splitlines() if r.startswith("| hard |"))
    assert row.endswith("| — | — |") and "[" in row.split("|")[2]
    assert "hard/hard/pass@n" not in f.metrics and "base/hard/pass@n" in f.metrics
    json.dumps(f.metrics, allow_nan=False)  # raises on NaN
    nan = float("nan")
    assert F.ci(nan, nan, nan) == "—" and F.ci(0.283, 0.23, 0.341) == "28.3 [23.0, 34.1]"
