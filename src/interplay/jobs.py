"""What each DVC stage will do, read from ``params.yaml`` alone.

One function per stage kind. Each validates everything about its stage that the params decide (keys,
types, bounds, references between sections) and returns a plain record of the work; none reads a data
file or starts any compute. Stages call these first, so a bad edit fails in a second with one line
naming the key; ``python -m interplay.check`` calls every one for every stage the DAG declares
(``stage_checks``), so a researcher can check an edited ``params.yaml`` before running anything.

What only the inputs can decide (a checkpoint's shape, a prompt pool's size, the calibrated edge)
is checked by the stage right after it opens those inputs, still before compute.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interplay import data, params, runs
from interplay import verdicts as V
from interplay.compute import budget_from_params
from interplay.task.spec import TaskSpec, task_spec_from_params

# The config parsers below live beside the torch code they configure, so they are imported by the jobs
# that need them: the data stages (generate, tokenizer, tokens, calibrate, report) start without
# importing torch (about 3 s, and its memory, per stage process).
if TYPE_CHECKING:
    from interplay import evaluate as E
    from interplay import model as M
    from interplay import prompt_filter as PF
    from interplay import rl as R
    from interplay import train as T

CHECK_VOCAB = 4096  # model shape checks before a tokenizer exists; the stage rechecks with the real one
FINDINGS = ("edge", "context", "midrl", "process", "ladder")
FINDING_KEYS = {  # finding -> (required keys, optional keys) of its findings.<key> entry
    "edge": ({"base", "rl", "edge_label", "id_label", "hard_label"}, {"edge_set"}),
    "context": ({"rl", "zero_label", "seeded_labels", "ops"}, {"before", "variants"}),
    "midrl": ({"runs", "rl_only_label"}, {"mid_only_label", "ranges", "hard_from_pilot"}),
    "process": ({"runs", "outcome_label", "op_groups"}, set()),
    "ladder": ({"run"}, set()),
}
SECTIONS = {  # the top-level sections of params.yaml
    "task",
    "generate",
    "datasets",
    "tokenizer",
    "tokens",
    "model",
    "train_defaults",
    "pretrain",
    "midtrain",
    "rl",
    "filter",
    "calibrate",
    "evaluate",
    "findings",
    "ladder",
    "launch",
}


@dataclass(frozen=True)
class Generate:
    name: str
    task: TaskSpec
    spec: data.DatasetSpec
    workers: int


def generate(p: Mapping[str, Any], name: str) -> Generate:
    task = task_spec_from_params(_mapping(p, "task"))
    entries = params.section(p, "datasets")
    params.need(name in entries, f"datasets.{name}", f"not declared (known: {', '.join(entries)})")
    spec = data.dataset_spec(name, entries[name])
    params.need(
        task.splits[spec.split] > 0,
        f"task.splits.{spec.split}",
        f"share is 0 but datasets.{name} needs split '{spec.split}'",
    )
    gen = _mapping(p, "generate")
    params.check_keys(gen, "generate", {"workers"})
    workers = params.as_int(gen.get("workers", 1), "generate.workers", lo=1, hi=params.MAX_THREADS)
    return Generate(name, task, spec, workers)


@dataclass(frozen=True)
class Tokenizer:
    dataset: str
    vocab_size: int
    style: str
    max_number: int


def tokenizer(p: Mapping[str, Any]) -> Tokenizer:
    cfg = params.section(p, "tokenizer")
    params.check_keys(cfg, "tokenizer", {"dataset", "vocab_size"}, {"dataset"})
    name = cfg["dataset"]
    params.need(
        isinstance(name, str) and name in _mapping(p, "datasets"),
        "tokenizer.dataset",
        f"'{name}' is not declared under datasets",
    )
    vocab_size = params.as_int(cfg.get("vocab_size", 4096), "tokenizer.vocab_size", lo=300, hi=65536)
    task = task_spec_from_params(_mapping(p, "task"))
    # numbers the task can print: 0..modulus-1 with modular arithmetic, else 0..1000
    max_number = task.modulus - 1 if task.modulus else 1000
    return Tokenizer(name, vocab_size, task.names, max_number)


@dataclass(frozen=True)
class Train:
    phase: str
    name: str
    cfg: T.TrainConfig
    model: Mapping[str, Any]  # params.yaml ``model``, checked; the vocabulary comes from the tokenizer


def train(p: Mapping[str, Any], phase: str, name: str) -> Train:
    from interplay import train as T

    params.need(phase in ("pretrain", "midtrain"), "phase", f"unknown phase '{phase}'")
    runs.all_runs(p)
    section = params.section(p, phase)
    params.need(name in section, f"{phase}.{name}", f"run not declared (known: {', '.join(section)})")
    key = f"{phase}.{name}"
    params.need(isinstance(section[name], Mapping), key, "expected a mapping")
    entry = dict(section[name])
    budget = entry.pop("budget", None)
    if budget is not None:  # compute-matched split (paper §5): mid-training gets (1 - beta) T tokens
        total, beta = budget_from_params(budget, f"{key}.budget")
        params.need(beta < 1.0, f"{key}.budget.beta", "beta = 1 leaves no mid-training")
        params.need("tokens" not in entry, f"{key}.tokens", "a run with a budget gets its tokens from it")
        entry["tokens"] = max(1, round((1.0 - beta) * total))
    cfg = T.config_from_params(entry, key, _mapping(p, "train_defaults"))
    runs.declared_training_dataset(p, cfg.dataset, f"{key}.dataset")
    params.need(
        cfg.dataset in _token_datasets(p),
        f"{key}.dataset",
        f"dataset '{cfg.dataset}' has no token stream: add it to tokens (the list of training datasets)",
    )
    runs.declared_init(p, cfg.init, f"{key}.init")
    needs_init = phase == "pretrain" or cfg.init is not None
    params.need(needs_init, f"{key}.init", "mid-training needs an init model")
    model_cfg = _model_config(p)
    params.need(
        cfg.seq_len <= model_cfg.max_seq_len,
        f"{key}.seq_len",
        f"{cfg.seq_len} exceeds model.max_seq_len {model_cfg.max_seq_len}",
    )
    return Train(phase, name, cfg, _mapping(p, "model"))


def _token_datasets(p: Mapping[str, Any]) -> list[str]:
    listed = p.get("tokens") or []
    params.need(isinstance(listed, list), "tokens", "expected a list of training datasets")
    return listed


def tokens(p: Mapping[str, Any], name: str) -> str:
    """``tokens@<dataset>``: a training dataset tokenised into a token stream."""
    listed = _token_datasets(p)
    params.need(name in listed, "tokens", f"'{name}' is not listed")
    where = f"tokens[{listed.index(name)}]"
    params.need(listed.count(name) == 1, where, f"'{name}' listed twice")
    runs.declared_training_dataset(p, name, where)
    return name


@dataclass(frozen=True)
class Evaluate:
    name: str
    model: str
    dataset: str
    cfg: E.EvalConfig
    ranges: dict[str, list[int]]
    ops: list[int]  # the ops it samples: ``cfg.ops``, else every op of its dataset


def evaluate(p: Mapping[str, Any], name: str) -> Evaluate:
    from interplay import evaluate as E

    ev = params.section(p, "evaluate")
    params.check_keys(ev, "evaluate", {"defaults", "ranges", "runs"}, {"ranges", "runs"})
    entries = _mapping(ev, "runs", "evaluate.runs")
    key = f"evaluate.runs.{name}"
    params.need(name in entries, key, f"not declared (known: {', '.join(entries)})")
    entry = entries[name]
    params.check_keys(
        entry, key, {"model", "dataset", "samples", "problems_per_op", "ops"}, {"model", "dataset"}
    )
    over = {k: entry[k] for k in ("samples", "problems_per_op", "ops") if k in entry}
    cfg = _eval_config(ev, over, key)
    ranges = E.parse_ranges(_mapping(ev, "ranges", "evaluate.ranges"))
    model = entry["model"]
    params.need(
        isinstance(model, str) and model in runs.all_runs(p), f"{key}.model", f"unknown run '{model}'"
    )
    _eval_dataset(p, entry["dataset"], f"{key}.dataset")
    ops = sorted(data.dataset_spec(entry["dataset"], _mapping(p, "datasets")[entry["dataset"]]).ops())
    if cfg.ops is not None:
        wanted = E.op_list(cfg.ops, f"{key}.ops")
        missing = sorted(set(wanted) - set(ops))
        params.need(
            not missing, f"{key}.ops", f"dataset '{entry['dataset']}' has no problems at op {missing}"
        )
        ops = sorted(wanted)
    return Evaluate(name, entry["model"], entry["dataset"], cfg, ranges, ops)


@dataclass(frozen=True)
class Filter:
    name: str
    cfg: PF.FilterConfig


def prompt_filter(p: Mapping[str, Any], name: str) -> Filter:
    """``filter@<name>``: a filtered RL pool, written as dataset ``<name>``."""
    from interplay import prompt_filter as PF

    section = params.section(p, "filter")
    params.check_keys(section, "filter", {"defaults", "runs"})
    entries = _mapping(section, "runs", "filter.runs")
    key = f"filter.runs.{name}"
    params.need(name in entries, key, f"not declared (known: {', '.join(entries) or 'none'})")
    entry = entries[name]
    params.need(isinstance(entry, Mapping), key, "expected a mapping")
    try:
        cfg = PF.config_from_params({**_mapping(section, "defaults", "filter.defaults"), **entry}, key)
    except params.ParamsError as err:
        raise params.blame(err, key, entry, "filter.defaults") from None
    datasets = _mapping(p, "datasets")
    params.need(
        name not in datasets,
        key,
        f"'{name}' is also a dataset: the filtered pool is written as data/datasets/{name}.parquet",
    )
    params.need(cfg.dataset in datasets, f"{key}.dataset", f"'{cfg.dataset}' is not declared under datasets")
    runs.declared_training_dataset(p, cfg.dataset, f"{key}.dataset")
    known = runs.all_runs(p)
    params.need(cfg.model in known, f"{key}.model", f"unknown run '{cfg.model}'")
    return Filter(name, cfg)


@dataclass(frozen=True)
class RL:
    group: str
    name: str
    cfg: R.RLConfig  # calibrated runs: ``ops`` is filled in by the stage from the calibration file
    budget: tuple[float, float] | None  # (total token-equivalents T, beta)


def rl(p: Mapping[str, Any], group: str, name: str, calibrated: Mapping[str, Any] | None = None) -> RL:
    from interplay import rl as R

    section = params.section(p, "rl")
    params.check_keys(section, "rl", {"defaults", "runs", "calibrated"})
    params.need(group in ("runs", "calibrated"), "rl", f"unknown group '{group}'")
    entries = _mapping(section, group, f"rl.{group}")
    key = f"rl.{group}.{name}"
    params.need(name in entries, key, f"run not declared (known: {', '.join(entries) or 'none'})")
    params.need(isinstance(entries[name], Mapping), key, "expected a mapping")
    runs.all_runs(p)
    entry = dict(entries[name])
    if group == "calibrated":
        params.need("ops" not in entry, f"{key}.ops", "a calibrated run takes its ops from calibrate")
        entry["ops"] = "calibrated" if calibrated is not None else None
    budget_d = entry.pop("budget", None)
    cfg = R.config_from_params(entry, key, _mapping(section, "defaults", "rl.defaults"), calibrated)
    budget = None
    if budget_d is not None:
        budget = budget_from_params(budget_d, f"{key}.budget")
        params.need(budget[1] > 0.0, f"{key}.budget.beta", "beta = 0 leaves no RL")
        params.need("steps" not in entry, f"{key}.steps", "a run with a budget gets its steps from it")
    runs.declared_training_dataset(p, cfg.dataset, f"{key}.dataset")
    runs.declared_init(p, cfg.init, f"{key}.init")
    model_cfg = _model_config(p)
    where = f"{key}.max_new_tokens" if "max_new_tokens" in entry else "rl.defaults.max_new_tokens"
    params.need(
        cfg.max_new_tokens == R.AUTO or cfg.max_new_tokens < model_cfg.max_seq_len,
        where,
        f"{cfg.max_new_tokens} leaves no room for a prompt in model.max_seq_len {model_cfg.max_seq_len}",
    )
    return RL(group, name, cfg, budget)


@dataclass(frozen=True)
class Ladder:
    run: str
    dataset: str
    cfg: E.EvalConfig


def ladder(p: Mapping[str, Any], run: str) -> Ladder:
    cfg_l = params.section(p, "ladder")
    params.check_keys(cfg_l, "ladder", {"runs", "dataset", "samples", "problems_per_op"}, {"runs", "dataset"})
    listed = cfg_l["runs"] or []
    params.need(isinstance(listed, list), "ladder.runs", "expected a list of pretrain runs")
    params.need(run in listed, "ladder.runs", f"'{run}' is not listed")
    where = f"ladder.runs[{listed.index(run)}]"
    params.need(
        isinstance(run, str) and run in _mapping(p, "pretrain"), where, f"'{run}' is not a pretrain run"
    )
    entry = _mapping(p, "pretrain")[run]
    fractions = {**_mapping(p, "train_defaults"), **(entry if isinstance(entry, Mapping) else {})}.get(
        "ladder"
    )
    params.need(
        bool(fractions),
        f"pretrain.{run}.ladder",
        f"'{run}' saves no ladder checkpoints (ladder.runs lists it)",
    )
    over = {k: cfg_l[k] for k in ("samples", "problems_per_op") if k in cfg_l}
    cfg = _eval_config(_mapping(p, "evaluate"), over, "ladder")
    _eval_dataset(p, cfg_l["dataset"], "ladder.dataset")
    return Ladder(run, cfg_l["dataset"], cfg)


@dataclass(frozen=True)
class Calibrate:
    evaluation: str
    max_pass1: float
    min_passn: float


def calibrate(p: Mapping[str, Any]) -> Calibrate:
    cfg = params.section(p, "calibrate")
    params.check_keys(cfg, "calibrate", {"evaluation", "max_pass1", "min_passn"}, {"evaluation"})
    name = cfg["evaluation"]
    evals = _mapping(_mapping(p, "evaluate"), "runs", "evaluate.runs")
    params.need(
        isinstance(name, str) and name in evals, "calibrate.evaluation", f"'{name}' is not an evaluate run"
    )
    lo = params.as_float(cfg.get("min_passn", 0.05), "calibrate.min_passn", 0.0, 1.0)
    hi = params.as_float(cfg.get("max_pass1", 0.5), "calibrate.max_pass1", 0.0, 1.0)
    return Calibrate(name, hi, lo)


@dataclass(frozen=True)
class Figures:
    key: str
    cfg: dict[str, Any]
    ranges: dict[str, list[int]]
    reads: list[str]  # files the finding reads: each must be a dep of its stage in dvc.yaml


def figures(p: Mapping[str, Any], key: str, dvc_yaml: Path = Path("dvc.yaml")) -> Figures:
    from interplay import evaluate as E

    params.need(key in FINDINGS, f"findings.{key}", f"unknown finding ({', '.join(FINDINGS)})")
    cfg = dict(params.section(p, f"findings.{key}"))
    ranges = E.parse_ranges(params.section(p, "evaluate.ranges"))
    evals = set(_mapping(_mapping(p, "evaluate"), "runs", "evaluate.runs"))
    params.check_keys(
        cfg, f"findings.{key}", FINDING_KEYS[key][0] | FINDING_KEYS[key][1], FINDING_KEYS[key][0]
    )
    if "ranges" in cfg:  # a finding's own op ranges replace those of evaluate.ranges by name
        own = cfg.pop("ranges")
        params.need(isinstance(own, Mapping) and own, f"findings.{key}.ranges", "expected a mapping")
        ranges = E.parse_ranges({**params.section(p, "evaluate.ranges"), **own}, f"findings.{key}.ranges")
    if key == "ladder":
        listed = (p.get("ladder") or {}).get("runs") or []
        params.need(cfg["run"] in listed, "findings.ladder.run", f"'{cfg['run']}' is not in ladder.runs")
        reads = [f"reports/ladder/{cfg['run']}.parquet"]
    else:
        named: dict[str, Any] = {}
        for group in ("rl", "runs"):
            if group in cfg:
                runs_g = _mapping(cfg, group, f"findings.{key}.{group}")
                _check_evaluations(f"findings.{key}.{group}", runs_g, evals)
                _check_seed_counts(f"findings.{key}.{group}", {**named, **runs_g})
                named.update(runs_g)
        if "base" in cfg:
            _check_evaluations(f"findings.{key}", {"base": cfg["base"]}, evals)
            named["base"] = cfg["base"]
        reads = [f"reports/eval/{n}.parquet" for n in runs.seed_names(*named.values())]
        _check_finding(cfg, key, named)
        if key == "edge":
            if cfg.get("edge_set"):  # the OOD-edge evaluations, run by run
                reads += _per_label(cfg, key, "edge_set", ["base", *cfg["rl"]], evals)
            reads += [f"reports/train/{n}/plots/metrics" for n in runs.seed_names(*cfg["rl"].values())]
        if key == "context" and "before" in cfg:  # the seed models before RL, label by label
            reads += _per_label(cfg, key, "before", list(cfg["rl"]), evals)
        if key == "context" and "variants" in cfg:  # RL variants shown beside, outside the verdict
            variants = _mapping(cfg, "variants", "findings.context.variants")
            _check_evaluations("findings.context.variants", variants, evals)
            reads += [f"reports/eval/{n}.parquet" for n in runs.seed_names(*variants.values())]
        if key == "midrl" and "hard_from_pilot" in cfg:  # OOD-hard from the pilot, not fixed
            where = "findings.midrl.hard_from_pilot"
            cfg["hard_from_pilot"] = rule = params.parse(V.PilotRule, cfg["hard_from_pilot"], where)
            params.need(
                rule.label in cfg["runs"], f"{where}.label", f"'{rule.label}' is not in findings.midrl.runs"
            )
            for name in runs.seed_names(cfg["runs"][rule.label]):  # pass@k needs k samples at least
                n = evaluate(p, name).cfg.samples
                params.need(
                    rule.k <= n, f"{where}.k", f"{rule.k} exceeds the {n} samples of evaluation '{name}'"
                )
            own = params.section(p, "findings.midrl").get("ranges") or {}
            params.need(
                "hard" not in own,
                "findings.midrl.ranges.hard",
                f"OOD-hard is set by {where}: one or the other",
            )
        if key == "context":
            cfg["ops"] = sorted(E.parse_ranges({"ops": cfg.get("ops")}, f"findings.{key}")["ops"])
        if key == "process":
            groups = cfg.get("op_groups")
            params.need(isinstance(groups, list) and groups, "findings.process.op_groups", "expected a list")
            cfg["op_groups"] = [
                sorted(data.parse_ops(g, f"findings.process.op_groups[{i}]")) for i, g in enumerate(groups)
            ]
    _check_ops_covered(p, key, cfg, ranges)  # nothing to check for the ladder
    check_declared(key, reads, dvc_yaml)
    return Figures(key, cfg, ranges, reads)


def _check_ops_covered(
    p: Mapping[str, Any], key: str, cfg: Mapping[str, Any], ranges: Mapping[str, list[int]]
) -> None:
    """Every evaluation a finding's verdict reads covers the ops it reads there (an ``ops`` subset
    left over from another profile would otherwise leave a comparison without problems)."""
    groups: dict[str, tuple[list[str], set[int]]] = {}
    if key == "edge":  # the runs' ID (and edge) ops; the edge ops from edge_set where it is given
        names = runs.seed_names(cfg["base"], *cfg["rl"].values())
        edge = set(ranges.get("edge", []))
        groups["rl"] = (names, set(ranges.get("id", [])) | (set() if cfg.get("edge_set") else edge))
        if cfg.get("edge_set"):
            groups["edge_set"] = (runs.seed_names(*cfg["edge_set"].values()), edge)
            for label in ["base", *cfg["rl"]]:
                n_main = len(runs.seed_names(cfg["base"] if label == "base" else cfg["rl"][label]))
                n_edge = len(runs.seed_names(cfg["edge_set"][label]))
                params.need(
                    n_main == n_edge,
                    f"findings.edge.edge_set.{label}",
                    f"lists {n_edge} evaluation(s) for {n_main} training seed(s): one per seed, in order",
                )
    elif key == "process":
        groups["runs"] = (runs.seed_names(*cfg["runs"].values()), {o for g in cfg["op_groups"] for o in g})
    elif key == "context":
        for group in ("rl", "before", "variants"):
            if group in cfg:
                groups[group] = (runs.seed_names(*cfg[group].values()), set(cfg["ops"]))
    elif key == "midrl":
        pilot = cfg.get("hard_from_pilot")  # OOD-hard starts at the rule's first op
        need = set(ranges.get("edge", [])) | ({pilot.first_op} if pilot else set(ranges.get("hard", [])))
        groups["runs"] = (runs.seed_names(*cfg["runs"].values()), need)
    for group, (names, need) in groups.items():
        for name in names:
            missing = sorted(need - set(evaluate(p, name).ops))
            params.need(
                not missing,
                f"evaluate.runs.{name}.ops",
                f"findings.{key}.{group} reads op {missing}, which this evaluation does not sample",
            )


def report(p: Mapping[str, Any]) -> list[str]:
    """The findings the report lists, in params order."""
    order = list(params.section(p, "findings"))
    for key in order:
        params.need(key in FINDINGS, f"findings.{key}", f"unknown finding ({', '.join(FINDINGS)})")
    return order


def stage_checks(p: Mapping[str, Any]) -> list[tuple[str, Callable[[], object]]]:
    """(stage name as ``dvc.yaml`` names it, its params check) for every stage the DAG declares."""
    out: list[tuple[str, Callable[[], object]]] = []
    unknown = sorted(map(str, set(p) - SECTIONS))
    params.need(
        not unknown, unknown[0] if unknown else "", f"unknown section; known: {', '.join(sorted(SECTIONS))}"
    )

    def each(section: Any, where: str) -> list[str]:
        params.need(section is None or isinstance(section, Mapping), where, "expected a mapping")
        return list(section or {})

    out += [(f"generate@{n}", lambda n=n: generate(p, n)) for n in each(p.get("datasets"), "datasets")]
    out.append(("tokenizer", lambda: tokenizer(p)))
    for i, n in enumerate(_token_datasets(p)):
        params.need(isinstance(n, str), f"tokens[{i}]", f"expected a dataset name, got {n!r}")
    out += [(f"tokens@{n}", lambda n=n: tokens(p, n)) for n in _token_datasets(p)]
    for phase in ("pretrain", "midtrain"):
        out += [(f"{phase}@{n}", lambda ph=phase, n=n: train(p, ph, n)) for n in each(p.get(phase), phase)]
    ev = p.get("evaluate") or {}
    out += [(f"evaluate@{n}", lambda n=n: evaluate(p, n)) for n in each(ev.get("runs"), "evaluate.runs")]
    out.append(("calibrate", lambda: calibrate(p)))
    fl = p.get("filter") or {}
    params.need(isinstance(fl, Mapping), "filter", "expected a mapping")
    out += [(f"filter@{n}", lambda n=n: prompt_filter(p, n)) for n in each(fl.get("runs"), "filter.runs")]
    sec = p.get("rl") or {}
    params.need(isinstance(sec, Mapping), "rl", "expected a mapping")
    out += [(f"rl@{n}", lambda n=n: rl(p, "runs", n)) for n in each(sec.get("runs"), "rl.runs")]
    out += [
        (f"rl_calibrated@{n}", lambda n=n: rl(p, "calibrated", n))
        for n in each(sec.get("calibrated"), "rl.calibrated")
    ]
    lad = p.get("ladder") or {}
    params.need(isinstance(lad, Mapping), "ladder", "expected a mapping")
    lruns = lad.get("runs") or []
    params.need(isinstance(lruns, list), "ladder.runs", "expected a list of pretrain runs")
    for i, r in enumerate(lruns):
        params.need(isinstance(r, str), f"ladder.runs[{i}]", f"expected a run name, got {r!r}")
    out += [(f"ladder@{r}", lambda r=r: ladder(p, r)) for r in lruns]
    out.append(("launch", lambda: launch_check(p)))
    out += [(f"figures_{k}", lambda k=k: figures(p, k)) for k in each(p.get("findings"), "findings")]
    out.append(("report", lambda: report(p)))
    return out


def launch_check(p: Mapping[str, Any]) -> list[str]:
    """``launch``: how train, evaluate and RL stages start (plain python or torchrun)."""
    from interplay.launch import command

    cfg = _mapping(p, "launch")
    params.check_keys(cfg, "launch", {"nproc", "nnodes", "rdzv"})
    return command(["stage.py"], dict(cfg))


def check(p: Mapping[str, Any]) -> list[str]:
    """Every stage's params check; returns one line per failing stage (empty: all pass)."""
    try:
        checks = stage_checks(p)
    except params.ParamsError as err:
        return [f"params.yaml: {err}"]
    errors = []
    for stage, fn in checks:
        try:
            fn()
        except params.ParamsError as err:
            errors.append(f"{stage}: {err}")
    return errors


CONFIGS = {  # the declarative configs (``params.option``) and the params key each is read from
    "task": "interplay.task.spec:TaskSpec",
    "model": "interplay.model:ModelConfig",
    "train_defaults": "interplay.train:TrainConfig",
    "rl.defaults": "interplay.rl:RLConfig",
    "filter.defaults": "interplay.prompt_filter:FilterConfig",
    "evaluate.defaults": "interplay.evaluate:EvalConfig",
}


def fields_help() -> list[str]:
    """Every settable field of every config, one line each (``python -m interplay.check --fields``)."""
    import importlib

    lines = []
    for key, where in CONFIGS.items():
        module, name = where.split(":")
        lines += params.describe(getattr(importlib.import_module(module), name), key)
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m interplay.check [params.yaml]``: check every stage's params; exit 2 on an error.
    ``--fields``: list every settable field with its type, default, bounds and doc instead."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--fields"]:
        print("\n".join(fields_help()))
        return 0
    path = args[0] if args else "params.yaml"
    try:
        p = params.load(path)
    except (params.ParamsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    errors = check(p)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if not errors:
        print(f"{path}: the params of all {len(stage_checks(p))} stages check out")
    return 2 if errors else 0


# ----------------------------------------------------------------------------------------------
# shared checks


def _mapping(d: Mapping[str, Any], key: str, where: str | None = None) -> Mapping[str, Any]:
    """``d[key]`` as a mapping (missing or null: empty)."""
    value = d.get(key)
    if value is None:
        return {}
    params.need(isinstance(value, Mapping), where or key, "expected a mapping")
    return value


def _eval_config(ev: Mapping[str, Any], over: Mapping[str, Any], key: str) -> E.EvalConfig:
    from interplay import evaluate as E

    try:
        return E.config_from_params({**_mapping(ev, "defaults", "evaluate.defaults"), **over}, key)
    except params.ParamsError as err:
        raise params.blame(err, key, over, "evaluate.defaults") from None


def _eval_dataset(p: Mapping[str, Any], name: Any, key: str) -> None:
    ds = _mapping(p, "datasets").get(name) if isinstance(name, str) else None
    params.need(ds is not None, key, f"dataset '{name}' is not declared")
    params.need(
        ds.get("split") == "eval",
        key,
        f"dataset '{name}' has split '{ds.get('split')}', not eval: evaluating on training data would "
        "overlap training",
    )


def _model_config(p: Mapping[str, Any]) -> M.ModelConfig:
    """``params.yaml: model`` checked with a stand-in vocabulary (the stage rechecks with the real one)."""
    from interplay import model as M

    return M.config_from_params(dict(_mapping(p, "model")), CHECK_VOCAB)


def _check_evaluations(where: str, named: Mapping[str, Any], evals: set[str]) -> None:
    """Every label of ``named`` must name a declared evaluate run, or list one per training seed."""
    for label, name in named.items():
        if isinstance(name, list):
            params.need(bool(name), f"{where}.{label}", "expected a non-empty list (one evaluation per seed)")
            for i, n in enumerate(name):
                ok = isinstance(n, str) and n in evals
                params.need(ok, f"{where}.{label}[{i}]", f"'{n}' is not an evaluate run")
            dup = sorted({n for n in name if name.count(n) > 1})
            params.need(not dup, f"{where}.{label}", f"'{dup[0] if dup else ''}' listed twice")
        else:
            ok = isinstance(name, str) and name in evals
            params.need(ok, f"{where}.{label}", f"'{name}' is not an evaluate run")


def _per_label(cfg: Mapping[str, Any], key: str, name: str, labels: list[str], evals: set[str]) -> list[str]:
    """``findings.<key>.<name>``: one evaluation (or a seed list) for each of ``labels``, each a
    declared evaluate run, seed counts matched; the files it makes the finding read."""
    where = f"findings.{key}.{name}"
    given = _mapping(cfg, name, where)
    params.need(
        set(given) == set(labels), where, f"expected one evaluation for each of {', '.join(sorted(labels))}"
    )
    _check_evaluations(where, given, evals)
    _check_seed_counts(where, given)
    return [f"reports/eval/{n}.parquet" for n in runs.seed_names(*given.values())]


def _check_seed_counts(where: str, named: Mapping[str, Any]) -> None:
    """Runs with several seeds are compared seed by seed: each lists one evaluation or as many as
    every other multi-seed run of the finding."""
    counts = {label: len(n) for label, n in named.items() if isinstance(n, list) and len(n) > 1}
    if len(set(counts.values())) > 1:
        first, *rest = counts.items()
        other = next(x for x in rest if x[1] != first[1])
        params.need(
            False,
            f"{where}.{other[0]}",
            f"lists {other[1]} seeds but '{first[0]}' lists {first[1]}: compared runs list one or as many",
        )


def _check_finding(cfg: Mapping[str, Any], key: str, named: Mapping[str, Any]) -> None:
    """Labels a finding compares by must be among its runs."""
    labels = ("edge_label", "id_label", "hard_label", "outcome_label", "rl_only_label", "mid_only_label")
    for field in (*labels, "zero_label"):
        if field in cfg:
            label = cfg[field]
            params.need(
                isinstance(label, str) and label in named,
                f"findings.{key}.{field}",
                f"'{label}' is not one of its runs",
            )
    if "seeded_labels" in cfg:
        labels = cfg["seeded_labels"]
        params.need(isinstance(labels, list) and labels, f"findings.{key}.seeded_labels", "expected a list")
        for i, label in enumerate(labels):
            where = f"findings.{key}.seeded_labels[{i}]"
            params.need(isinstance(label, str) and label in named, where, f"'{label}' is not one of its runs")


@functools.lru_cache(maxsize=8)
def _dvc_stages(path: Path, mtime_ns: int) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(path.read_text(), Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise params.ParamsError(f"{path}: {where}not valid YAML ({getattr(err, 'problem', err)})") from None
    params.need(isinstance(doc, dict), str(path), "expected a mapping with 'stages'")
    return doc.get("stages") or {}


def check_declared(key: str, reads: list[str], dvc_yaml: Path) -> None:
    """Every file a finding reads must be a dep of its stage, or DVC would not rerun it."""
    stage = f"figures_{key}"
    stages = _dvc_stages(dvc_yaml, dvc_yaml.stat().st_mtime_ns) if dvc_yaml.exists() else {}
    params.need(stage in stages, f"findings.{key}", f"{dvc_yaml} has no stage '{stage}'")
    deps = set(stages[stage].get("deps") or [])
    missing = [r for r in reads if r not in deps]
    params.need(
        not missing,
        f"findings.{key}",
        f"reads {', '.join(missing)}, not declared as deps of {dvc_yaml}:{stage}; add them there",
    )
