"""``dvc repro`` in parallel lanes: independent stages run side by side as 1-thread jobs.

On a 2-core machine two 1-thread stages get through more work than one 2-thread stage
(``docs/cpu-scale.md``), and the thread count does not change any stage's numbers
(``runtime.threads_override``).
Two ``dvc repro <branch>`` processes cannot share a workspace (each locks the up-to-date upstream
stages it walks, dvc#5795), so this runs each stage as its own ``dvc --wait-for-lock repro -s <stage>``
(no upstream walk: it locks only the stage's own dependencies for reading and outputs for writing)
and does the ordering itself:

1. the DAG comes from DVC (``Repo.index.graph``), the stages that need running from
   ``dvc status --json`` plus everything downstream of them (their inputs will change);
2. a stage starts once every planned stage upstream of it has finished; among the ready ones those
   of the first target named go first (``figures_edge report``: finding 1, then the rest), then the
   one with the longest weighted path to the end of the DAG (pre-training before RL);
3. a stage that would run alone (nothing else running or ready) gets every lane's threads; the
   first ready stage waits, while the others start, if everything else ready or running would be
   done within a tenth of its cost, so that it then runs alone (the base beside a few dataset
   generations);
4. a failed stage stops its descendants; the others finish; the exit status is non-zero;
5. ``--allow-missing``: a stage whose only change is data not on this machine (``dvc.lock`` matches its
   code, params and inputs) is skipped unless a stage that runs reads its outputs, in which case it is
   rebuilt first (``select``). A grid resumes on a fresh clone from ``dvc.lock`` and the reports in git.

The result is what ``dvc repro`` of the same targets gives: the same stages, the same ``dvc.lock``.
``python -m interplay.lanes [targets ...] [-j 2] [--threads 1] [--dry] [--kill-stale]``; logs go to
``.dvc/tmp/lanes/<stage>.log``, and each finished stage's seconds to ``reports/lanes/seconds.json``
(a stage that ran alone under ``<stage> (alone)``: its time with every lane's threads; a stage that
resumed a killed run is not recorded, its time being the part after the checkpoint).
``--estimate`` prints the plan's wall time simulated from those seconds, charging a stage that would
start alone its alone time where one was measured (``--from-scratch``: every stage of the targets, as
from a clean clone).

Stopping: Ctrl-C, SIGTERM or SIGHUP ends every running job's process group (a stage stopped this way
resumes from its last checkpoint next time) and exits with 128 + the signal number. The running jobs
are also listed in ``.dvc/tmp/lanes/jobs.json``; if the runner itself was killed (kill -9), the next
run finds the jobs it left behind and waits for them, saying so, or ends them with ``--kill-stale``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

from interplay.io import write_json
from interplay.runs import resume_dir
from interplay.runtime import THREADS_ENV

# a stage's expected seconds as a 1-thread job on the default params (this machine), by the name before
# '@', until a run has measured it (TIMES); only the order in which ready stages start depends on it.
# From the grid rerun of 2026-12-01 (two lanes): pre-training of a seed model 2,459 s (the base: 9,918 s),
# midtrain@mid_b50 903 s, RL runs 750-1,130 s, filter@rl_edge_f 353 s, generation 100-360 s per
# pre-training set and 10-20 s per RL or evaluation set (60: between); evaluation and the ladder from
# the previous default's runs (100-340 s).
WEIGHTS = {
    "pretrain": 2500.0,
    "midtrain": 900.0,
    "ladder": 350.0,
    "rl": 950.0,
    "rl_calibrated": 950.0,
    "filter": 350.0,
    "tokens": 20.0,
    "evaluate": 250.0,
    "generate": 60.0,
}
LOG_DIR = Path(".dvc/tmp/lanes")
# measured seconds per stage from earlier runs; in git, so that a fresh clone's plans and estimates
# start from the last machine's measurements
TIMES = Path("reports/lanes/seconds.json")
# a stage that ran alone with every lane's threads is recorded under its name + ALONE: the base's
# pre-training took 7,414 s in a 1-thread lane and 3,425 s alone on 2 threads (docs/log.md)
ALONE = " (alone)"
JOBS = LOG_DIR / "jobs.json"  # the running jobs: stage -> [process group id, its start time]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class LanesError(ValueError):
    """Bad targets or options: raised before any stage runs."""


def weight(stage: str) -> float:
    return WEIGHTS.get(stage.split("@", 1)[0], 10.0)


def _load_times(root: Path) -> dict[str, float]:
    """``TIMES`` as stage -> seconds; a missing or unreadable file reads as empty."""
    try:
        seen = json.loads((root / TIMES).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(seen, dict):
        return {}
    return {k: float(v) for k, v in seen.items() if isinstance(v, int | float)}


def measured_cost(root: Path, alone: bool = False) -> Callable[[str], float]:
    """Seconds each stage took last time it ran in a lane (``TIMES``), else alone, else its
    ``weight``. ``alone``: the time alone with every lane's threads first (what ``simulate`` charges
    a stage it starts alone), else the lane's."""
    seen = _load_times(root)
    first, second = (ALONE, "") if alone else ("", ALONE)
    return lambda s: seen.get(s + first, seen.get(s + second, weight(s)))


def timed_stages(root: Path) -> set[str]:
    """The stages ``TIMES`` holds a measurement for, in a lane or alone."""
    return {k.removesuffix(ALONE) for k in _load_times(root)}


def record_times(root: Path, seconds: Mapping[str, float]) -> None:
    """Merge this run's stage seconds into ``TIMES`` (next run's priorities), atomically."""
    write_json(root / TIMES, {**_load_times(root), **{k: round(v, 1) for k, v in seconds.items()}})


def select(
    upstream: Mapping[str, Iterable[str]],
    changed: Iterable[str],
    targets: Iterable[str] = (),
    missing: Iterable[str] = (),
) -> dict[str, frozenset[str]]:
    """The stages to run and, for each, the planned stages it waits for.

    ``upstream`` maps every stage of the DAG to the stages whose outputs it reads. A stage runs when it
    changed or anything upstream of it runs. ``targets`` (stage names, or a foreach group's name for all
    of its stages) limit the plan to those stages and their ancestors, as ``dvc repro <targets>`` does.

    ``missing`` (``--allow-missing``): stages whose only change is that their data is not on this
    machine (``dvc.lock`` still matches their code, params and inputs). They are skipped, as
    ``dvc repro --allow-missing`` skips them, unless a planned stage reads their outputs: then they
    are rebuilt first (on CPU a rebuild gives the bytes ``dvc.lock`` records, so what was computed
    from them in an earlier session stays valid), and so are the missing stages they read."""
    ups = {s: frozenset(u) for s, u in upstream.items()}
    for s, u in ups.items():
        unknown = u - ups.keys()
        if unknown:
            raise LanesError(f"stage {s!r} depends on unknown stages {sorted(unknown)}")
    scope = set(ups)
    targets = list(targets)
    if targets:
        roots: set[str] = set()
        for t in targets:
            hit = {s for s in ups if s == t or s.split("@", 1)[0] == t}
            if not hit:
                raise LanesError(f"unknown stage {t!r} (known: {', '.join(sorted(ups))})")
            roots |= hit
        scope = _with_ancestors(ups, roots)
    changed = set(changed)
    missing = set(missing) - changed
    unknown = (changed | missing) - ups.keys()
    if unknown:
        raise LanesError(f"dvc status names stages not in the DAG: {sorted(unknown)}")
    planned: set[str] = set()
    for s in topological(ups):
        if s in scope and (s in changed or ups[s] & planned):
            planned.add(s)
    stack = [u for s in planned for u in ups[s]]
    while stack:  # the missing inputs of what runs are rebuilt, and their missing inputs in turn
        u = stack.pop()
        if u in missing and u not in planned:
            planned.add(u)
            stack.extend(ups[u])
    return {s: ups[s] & planned for s in topological(ups) if s in planned}


def _with_ancestors(upstream: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` and every stage upstream of them."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        s = stack.pop()
        if s not in seen:
            seen.add(s)
            stack.extend(upstream[s])
    return seen


def topological(upstream: Mapping[str, frozenset[str]]) -> list[str]:
    """Stages in an order where each comes after everything it depends on (ties by name)."""
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(s: str) -> None:
        if s in done:
            return
        if s in visiting:
            raise LanesError(f"cycle through stage {s!r}")
        visiting.add(s)
        for u in sorted(upstream[s]):
            visit(u)
        visiting.discard(s)
        done.add(s)
        order.append(s)

    for s in sorted(upstream):
        visit(s)
    return order


def target_ranks(
    plan: Mapping[str, frozenset[str]], upstream: Mapping[str, Iterable[str]], targets: Iterable[str]
) -> dict[str, int]:
    """Each planned stage's rank: the position of the first target (in the order given) that needs it.

    ``python -m interplay.lanes figures_edge report`` thus starts finding 1's stages before any other
    ready stage, and the rest of the grid after them: with a run split into segments, the first
    target's results are complete as early as the lanes allow. Without targets every rank is 0."""
    targets = list(targets)
    rank: dict[str, int] = {}
    for i, t in enumerate(targets):
        hit = [s for s in upstream if s == t or s.split("@", 1)[0] == t]
        for s in _with_ancestors(upstream, hit) - rank.keys():
            rank[s] = i
    return {s: rank.get(s, len(targets)) for s in plan}  # a stage no target needs: after them all


def priorities(plan: Mapping[str, frozenset[str]], cost: Callable[[str], float] = weight) -> dict[str, float]:
    """Each stage's cost plus the costliest chain of planned stages downstream of it."""
    down: dict[str, list[str]] = {s: [] for s in plan}
    for s, ups in plan.items():
        for u in ups:
            down[u].append(s)
    prio: dict[str, float] = {}
    for s in reversed(list(plan)):  # plan is in topological order
        prio[s] = cost(s) + max((prio[d] for d in down[s]), default=0.0)
    return prio


class Job(Protocol):
    def poll(self) -> int | None: ...
    def terminate(self) -> None: ...


@dataclass
class Outcome:
    finished: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def schedule(
    plan: Mapping[str, frozenset[str]],
    start: Callable[[str, bool], Job],
    lanes: int = 2,
    poll_s: float = 1.0,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    cost: Callable[[str], float] = weight,
    progress: Callable[[str], str | None] = lambda s: None,
    heartbeat_s: float = 60.0,
    rank: Mapping[str, int] | None = None,
    on_done: Callable[[str, float], None] = lambda stage, seconds: None,
) -> Outcome:
    """Run ``plan`` (stage -> planned upstream stages) with at most ``lanes`` jobs at a time.

    Every ``heartbeat_s`` it logs one line per running stage: its last progress (``progress``: the
    stage's own progress bar, e.g. steps done / total and tokens/s), how long it has run and, from
    ``cost`` (the seconds it took last time, else a per-kind estimate), about how long it has left;
    and an estimated finish of the whole plan (its critical path of expected stage seconds).

    ``start(stage, alone)`` launches a job; ``alone`` is true when nothing else runs or is ready. Then
    nothing can become ready before this stage ends (every other stage waits on it), so it may use
    every lane's threads (the base pre-training when only finding 1 is asked for). A lone ready stage
    waits for running ones that are expected to end within a tenth of its own cost, to run alone.
    ``rank`` (``target_ranks``) orders ready stages before priority; ``on_done(stage, seconds)`` runs
    as each stage succeeds (the runner records its time there: a run killed later keeps it)."""
    if lanes < 1:
        raise LanesError(f"lanes: expected >= 1, got {lanes}")
    prio = priorities(plan, cost)
    order = dict(rank or {})
    waiting = dict(plan)
    running: dict[str, tuple[Job, float]] = {}
    out = Outcome()
    done: set[str] = set()
    t0 = last_beat = clock()
    try:
        while waiting or running:
            if running and clock() - last_beat >= heartbeat_s:
                last_beat = clock()
                for line in heartbeat(running, waiting, prio, cost, progress, clock(), lanes):
                    log(f"[{clock() - t0:7.0f}s] ...    {line}")
            for s, (job, began) in list(running.items()):
                rc = job.poll()
                if rc is None:
                    continue
                del running[s]
                out.seconds[s] = clock() - began
                if rc == 0:
                    done.add(s)
                    out.finished.append(s)
                    log(f"[{clock() - t0:7.0f}s] done   {s} ({out.seconds[s]:.0f} s)")
                    on_done(s, out.seconds[s])
                else:
                    out.failed[s] = rc
                    log(f"[{clock() - t0:7.0f}s] FAILED {s} (exit {rc}; log: {LOG_DIR / (s + '.log')})")
            blocked = set(out.failed) | set(out.skipped)
            for s, ups in list(waiting.items()):
                if ups & blocked:
                    del waiting[s]
                    out.skipped.append(s)
                    blocked.add(s)
            ready = sorted(
                (s for s, ups in waiting.items() if ups <= done), key=lambda s: (order.get(s, 0), -prio[s], s)
            )
            if _wait_to_run_alone(ready, running, cost, clock(), lanes):
                ready = ready[1:]  # the long one waits; the short ones start
            for s in ready[: lanes - len(running)]:
                del waiting[s]
                alone = not running and len(ready) == 1
                log(f"[{clock() - t0:7.0f}s] start  {s}{' (alone: all threads)' if alone else ''}")
                with _signals_held():  # a stop signal between start and bookkeeping would orphan it
                    running[s] = (start(s, alone), clock())
            if running:
                sleep(poll_s)
    except BaseException:
        for job, _ in running.values():
            job.terminate()
        raise
    return out


def _wait_to_run_alone(
    ready: list[str],
    running: Mapping[str, tuple[Job, float]],
    cost: Callable[[str], float],
    now: float,
    lanes: int = 2,
) -> bool:
    """Hold back the first ready stage, a long one, while everything else ready or running is
    expected to be done within a tenth of its cost (their seconds left, shared among the lanes):
    better to let them finish and then run it alone, with every lane's threads, than to run it on
    one lane's threads from start to end (the base's pre-training beside a few short dataset
    generations, when only finding 1 is asked for). The others start meanwhile."""
    if lanes < 2 or not ready or not (running or len(ready) > 1):
        return False
    left = sum(max(0.0, cost(r) - (now - began)) for r, (_, began) in running.items())
    left += sum(cost(r) for r in ready[1:])
    return left / lanes < 0.1 * cost(ready[0])


def simulate(
    plan: Mapping[str, frozenset[str]],
    cost: Callable[[str], float],
    lanes: int = 2,
    rank: Mapping[str, int] | None = None,
    alone_cost: Callable[[str], float] | None = None,
) -> float:
    """Seconds ``schedule`` would take for ``plan`` if every stage took ``cost(stage)``, or
    ``alone_cost(stage)`` when it starts alone with every lane's threads (default: ``cost``): the
    same ordering rules, run on a simulated clock with one-second ticks (``--estimate``)."""
    clock = [0.0]
    lone = alone_cost or cost

    class Timed:
        def __init__(self, stage: str, alone: bool) -> None:
            self.end = clock[0] + (lone(stage) if alone else cost(stage))

        def poll(self) -> int | None:
            return 0 if clock[0] >= self.end else None

        def terminate(self) -> None:
            pass

    def tick(_: float) -> None:
        clock[0] += 1.0

    schedule(
        plan,
        lambda stage, alone: Timed(stage, alone),
        lanes=lanes,
        poll_s=1.0,
        log=lambda _: None,
        clock=lambda: clock[0],
        sleep=tick,
        cost=cost,
        heartbeat_s=float("inf"),
        rank=rank,
    )
    return clock[0]


def estimate_line(
    plan: Mapping[str, frozenset[str]],
    cost: Callable[[str], float],
    lanes: int,
    rank: Mapping[str, int],
    timed: set[str],
    alone_cost: Callable[[str], float] | None = None,
) -> str:
    """``--estimate``'s answer: the simulated wall time, and which stages' costs were measured."""
    guessed = sorted(s for s in plan if s not in timed)
    wall = simulate(plan, cost, lanes, rank, alone_cost)
    return (
        f"about {wall / 3600:.2f} h in {lanes} lanes ({sum(map(cost, plan)) / 3600:.2f} h of stage "
        f"time); {len(plan) - len(guessed)} stages timed by an earlier run ({TIMES}), {len(guessed)} by "
        f"the per-kind weights{': ' + ', '.join(guessed) if guessed else ''}"
    )


def heartbeat(
    running: Mapping[str, tuple[Job, float]],
    waiting: Mapping[str, frozenset[str]],
    prio: Mapping[str, float],
    cost: Callable[[str], float],
    progress: Callable[[str], str | None],
    now: float,
    lanes: int = 1,
) -> list[str]:
    """One line per running stage, then the plan's expected end (see ``schedule``). A stage's time
    left is its progress bar's own estimate when it shows one (right after a resume, that counts
    only the steps this run has made), else time so far x undone / done, else its recorded cost
    minus the time so far. The end is the later of the longest chain still ahead and all the work
    left shared over the lanes."""
    lines, left_by_stage = [], {}
    for s, (_, began) in sorted(running.items()):
        ran = now - began
        what = progress(s) or "running"
        m = _FRACTION.search(what)
        done, total = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        eta = _ETA_LEFT.search(what)
        if eta:
            left_by_stage[s] = _clock_seconds(eta.group(1))
        elif 0 < done <= total and ran > 0:
            left_by_stage[s] = ran * (total - done) / done
        else:
            left_by_stage[s] = max(0.0, cost(s) - ran)
        lines.append(f"{s}: {what}; {ran / 60:.0f} min in, about {left_by_stage[s] / 60:.0f} min left")
    # the longest chain still ahead: a running stage's rest plus what waits below it
    ahead = max(
        [left_by_stage[s] + prio[s] - cost(s) for s in left_by_stage] + [prio[s] for s in waiting],
        default=0.0,
    )
    work = sum(left_by_stage.values()) + sum(cost(s) for s in waiting)
    ahead = max(ahead, work / max(lanes, 1))
    lines.append(f"expected end in about {ahead / 60:.0f} min ({len(waiting)} stages waiting)")
    return lines


_PROGRESS = re.compile(r"(\d+)/(\d+) \[")
_FRACTION = re.compile(r"(\d+)/(\d+) \(")  # in last_progress's summary: "done/total (pct%)"
_RATE = re.compile(r"(tok_s|tokens/s|sample/s|step/s)=?\s*(\d[\d.,]*k?)")
_ETA = re.compile(r"\[[\d:]+<([\d:]+),")  # tqdm's "[elapsed<remaining, ..."
_ETA_LEFT = re.compile(r"([\d:]+) left$")  # in last_progress's summary


def _clock_seconds(clock: str) -> float:
    """``"1:02:03"`` or ``"02:03"`` -> seconds."""
    out = 0.0
    for part in clock.split(":"):
        out = out * 60 + int(part)
    return out


def last_progress(log_file: Path) -> str | None:
    """The last progress-bar state written to a stage's log: ``done/total (pct)``, a rate, and the
    bar's own estimate of the time left (``mm:ss left``) once it has one."""
    try:
        with open(log_file, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for frag in reversed(re.split(r"[\r\n]", tail)):
        m = _PROGRESS.search(frag)
        if m:
            done, total = int(m.group(1)), int(m.group(2))
            rate = _RATE.search(frag)
            label = frag[: m.start()].split(":")[0].strip() or "progress"
            extra = f", {rate.group(1)} {rate.group(2)}" if rate else ""
            eta = _ETA.search(frag)
            extra += f", {eta.group(1)} left" if eta else ""
            return f"{label} {done}/{total} ({100 * done / max(total, 1):.0f}%){extra}"
    return None


class Dag(NamedTuple):
    """The repository's DAG as DVC reads it."""

    upstream: dict[str, frozenset[str]]  # every stage -> the stages it reads outputs from
    produced: set[str]  # every path some stage writes (outputs, metrics, plots), relative to the root


def dag(root: Path) -> Dag:
    """The repository's stages, what each reads from which, and what they write (one read of DVC's index)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        upstream = {s.addressing: frozenset(u.addressing for u in graph.successors(s)) for s in graph.nodes}
        produced = {str(o.def_path) for st in repo.index.stages for o in st.outs}
    return Dag(upstream, produced)


ABSENT = frozenset({"deleted", "not in cache"})  # how ``dvc status`` names data not on this machine


def status(root: Path, produced: set[str]) -> tuple[set[str], set[str]]:
    """``dvc status``, split: (stages with a real change, stages whose only change is missing data);
    ``produced`` is :attr:`Dag.produced`."""
    res = subprocess.run(["dvc", "status", "--json"], cwd=root, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise LanesError(f"dvc status failed: {res.stderr.strip()}")
    return split_status(json.loads(res.stdout or "{}"), produced)


def split_status(report: Mapping[str, object], produced: set[str]) -> tuple[set[str], set[str]]:
    """Split ``dvc status --json`` into (edited, missing) stage names. A stage is missing-only when every
    entry is an output not on this machine or a dependency not on this machine that some stage
    produces (``produced``): its code, params and command match ``dvc.lock``. Anything else (a
    modified file, a changed param or command, a deleted source file, a new stage) is an edit."""
    edited: set[str] = set()
    missing: set[str] = set()
    for name, entries in report.items():
        stage = name.rsplit(":", 1)[-1] if name.startswith("dvc.yaml:") else name
        only_absent = isinstance(entries, list) and all(
            isinstance(e, dict)
            and set(e) <= {"changed deps", "changed outs"}
            and all(
                isinstance(st, str) and st in ABSENT and (kind == "changed outs" or path in produced)
                for kind, paths in e.items()
                for path, st in paths.items()
            )
            for e in entries
        )
        (missing if only_absent else edited).add(stage)
    return edited, missing


class Stopped(BaseException):
    """The runner got a stop signal (Ctrl-C, SIGTERM, SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, _frame) -> None:
    raise Stopped(signum)


def install_stop_handlers() -> None:
    """Turn the stop signals into ``Stopped``, so ``schedule`` ends its jobs' process groups."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stopped)


@contextlib.contextmanager
def _signals_held():
    """Hold the stop signals back (they arrive when the block ends)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), or None if it is gone.
    With the pid it names one process: a reused pid has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def _alive(pgid: int, started: str | None) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _start_time(pgid) in (None, started)


class JobsFile:
    """``JOBS``: the process groups of the running jobs, so a later run can find them after a kill -9."""

    def __init__(self, root: Path) -> None:
        self.path = root / JOBS

    def read(self) -> dict[str, tuple[int, str | None]]:
        try:
            raw = json.loads(self.path.read_text())
            return {str(s): (int(v[0]), v[1]) for s, v in raw.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            return {}

    def add(self, stage: str, pgid: int) -> None:
        write_json(self.path, {**self.read(), stage: [pgid, _start_time(pgid)]})

    def remove(self, stage: str) -> None:
        jobs = self.read()
        jobs.pop(stage, None)
        if jobs:
            write_json(self.path, jobs)
        else:
            self.path.unlink(missing_ok=True)

    def stale(self) -> dict[str, int]:
        """Jobs listed by an earlier run whose process groups still exist: stage -> pgid."""
        return {s: pgid for s, (pgid, started) in self.read().items() if _alive(pgid, started)}

    def end_stale(self, timeout_s: float = 60.0) -> dict[str, int]:
        """SIGTERM each stale job's process group (SIGKILL after ``timeout_s``); forget them all."""
        stale = self.stale()
        for pgid in stale.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(_alive(p, None) for p in stale.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pgid in stale.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.path.unlink(missing_ok=True)
        return stale

    def wait_stale(self, poll_s: float = 5.0, log: Callable[[str], None] = print) -> None:
        """Wait until no job of an earlier run is left, then forget them."""
        stale = self.stale()
        if stale:
            names, groups = ", ".join(sorted(stale)), ", ".join(str(p) for p in stale.values())
            log(
                f"waiting for {len(stale)} job(s) left running by an earlier run ({names}; "
                f"process groups {groups}); pass --kill-stale to end them"
            )
        while self.stale():
            time.sleep(poll_s)
        self.path.unlink(missing_ok=True)


class Process:
    """One ``dvc repro -s <stage>`` job (or ``cmd``), its output in a log file, in its own process
    group, listed in ``JOBS`` while it runs."""

    def __init__(self, stage: str, root: Path, threads: int, extra: list[str], cmd: list[str] | None = None):
        (root / LOG_DIR).mkdir(parents=True, exist_ok=True)
        self.stage = stage
        self.jobs = JobsFile(root)
        self.log = open(root / LOG_DIR / f"{stage}.log", "w")  # noqa: SIM115 (closed in poll)
        env = {**os.environ, THREADS_ENV: str(threads), "DVC_NO_ANALYTICS": "1"}
        cmd = cmd or ["dvc", "--wait-for-lock", "repro", "-s", *extra, stage]
        self.proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_unblock_stop_signals,  # a job is started while the runner holds them back
        )
        self.jobs.add(stage, self.proc.pid)

    def poll(self) -> int | None:
        rc = self.proc.poll()
        if rc is not None and not self.log.closed:
            self.log.close()
            self.jobs.remove(self.stage)
        return rc

    def terminate(self, timeout_s: float = 60.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # stages checkpoint; a rerun resumes
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        self.jobs.remove(self.stage)


def _ran(root: Path, stage: str) -> bool:
    try:
        return f"Running stage '{stage}'" in (root / LOG_DIR / f"{stage}.log").read_text()
    except OSError:
        return False


def _resumes(root: Path, stage: str) -> bool:
    """Whether a training or RL stage starting now will resume: its run has a resume state left by
    a killed run (``runs.resume_dir(<run>) / "state"``)."""
    return (root / resume_dir(stage.partition("@")[2]) / "state").is_dir()


def _record_if_ran(
    root: Path, stage: str, seconds: float, alone: bool = False, resumed: bool = False
) -> None:
    """Remember how long a stage took for the next run's priorities and estimates (under its name +
    ``ALONE`` if it ran alone with every lane's threads), unless DVC found it unchanged and skipped it
    (those few seconds say nothing about the stage) or it resumed from a killed run's checkpoint
    (its seconds are the part after the checkpoint only; the earlier record, if any, stays)."""
    if _ran(root, stage) and not resumed:
        record_times(root, {stage + (ALONE if alone else ""): seconds})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interplay.lanes", description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="stages or foreach groups (default: the whole DAG)")
    ap.add_argument("-j", "--lanes", type=int, default=2, help="stages at a time (default 2)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"torch threads per stage ({THREADS_ENV}); default: CPU cores // lanes, at least 1",
    )
    ap.add_argument("--dry", action="store_true", help="print the plan and exit")
    ap.add_argument(
        "--estimate",
        action="store_true",
        help="print the plan's simulated wall time from the recorded stage seconds and exit",
    )
    ap.add_argument(
        "--from-scratch",
        action="store_true",
        help="plan every stage of the targets, as a clean clone would (with --dry or --estimate)",
    )
    ap.add_argument("--no-run-cache", action="store_true", help="passed on to dvc repro")
    ap.add_argument(
        "--allow-missing",
        action="store_true",
        help="skip stages whose only change is data not on this machine, unless a stage that runs "
        "reads it (then rebuild it): a grid resumed on a new machine from the dvc.lock and reports in git",
    )
    ap.add_argument(
        "--kill-stale",
        action="store_true",
        help="end jobs an earlier, killed run left behind (default: wait for them)",
    )
    args = ap.parse_args(argv)
    if args.lanes < 1:
        ap.error(f"--lanes: expected >= 1, got {args.lanes}")
    threads = args.threads if args.threads is not None else max(1, (os.cpu_count() or 1) // args.lanes)
    if threads < 1:
        ap.error(f"--threads: expected >= 1, got {threads}")
    root = Path.cwd()
    if args.from_scratch and not (args.dry or args.estimate):
        ap.error("--from-scratch only goes with --dry or --estimate")
    install_stop_handlers()
    jobs = JobsFile(root)
    if args.kill_stale:
        for s, pgid in sorted(jobs.end_stale().items()):
            print(f"ended {s} (process group {pgid}), left running by an earlier run")
    elif not (args.dry or args.estimate):  # looking at a plan runs nothing: no need to wait
        jobs.wait_stale()
    try:
        upstream, produced = dag(root)
        if args.from_scratch:
            plan = select(upstream, set(upstream), args.targets)
        else:
            edited, missing = status(root, produced)
            if args.allow_missing:
                plan = select(upstream, edited, args.targets, missing)
            else:  # missing data counts as a change, as plain ``dvc repro`` counts it
                plan = select(upstream, edited | missing, args.targets)
    except LanesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cost = measured_cost(root)
    prio = priorities(plan, cost)
    rank = target_ranks(plan, upstream, args.targets)
    print(f"{len(plan)} stages to run, {args.lanes} lanes x {threads} thread(s)")
    if args.estimate:
        lone = measured_cost(root, alone=True)
        print(estimate_line(plan, cost, args.lanes, rank, timed_stages(root), lone))
        return 0
    if args.dry:
        for s in sorted(plan, key=lambda s: (rank[s], -prio[s], s)):
            print(f"  {s}  (after: {', '.join(sorted(plan[s])) or '-'})")
        return 0
    return _run_plan(root, plan, args, threads, cost, rank)


def _run_plan(
    root: Path,
    plan: Mapping[str, frozenset[str]],
    args: argparse.Namespace,
    threads: int,
    cost: Callable[[str], float],
    rank: Mapping[str, int],
) -> int:
    """Run ``plan`` in ``args.lanes`` lanes, recording each stage's seconds (``TIMES``)."""
    extra = ["--no-run-cache"] if args.no_run_cache else []
    lone: set[str] = set()  # the stages started alone, with every lane's threads
    resumed: set[str] = set()  # the stages that resume a killed run: their seconds are partial

    def start(s: str, alone: bool) -> Process:
        if alone:
            lone.add(s)
        if _resumes(root, s):
            resumed.add(s)
        return Process(s, root, threads * args.lanes if alone else threads, extra)

    t0 = time.monotonic()
    out = schedule(
        plan,
        start,
        lanes=args.lanes,
        cost=cost,
        progress=lambda s: last_progress(root / LOG_DIR / f"{s}.log"),
        rank=rank,
        on_done=lambda s, t: _record_if_ran(root, s, t, s in lone, s in resumed),
    )
    wall = time.monotonic() - t0
    busy = sum(out.seconds.values())
    print(f"{len(out.finished)} stages in {wall:.0f} s wall ({busy:.0f} s of stage time)")
    if not out.ok:
        print(f"failed: {sorted(out.failed)}; not started: {sorted(out.skipped)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except Stopped as stop:
        print(f"stopped by {signal.Signals(stop.signum).name}: running stages ended", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    except BrokenPipeError:  # `--dry | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
