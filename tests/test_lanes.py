"""The lane scheduler: which stages it plans, the order it starts them, and a real two-lane DVC run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from interplay import lanes, runs

# a -> (b, c) -> d, plus an unrelated e; edges point upstream
DAG = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": set()}


def test_select_runs_changed_stages_and_everything_downstream():
    assert lanes.select(DAG, {"b"}) == {"b": frozenset(), "d": frozenset({"b"})}
    plan = lanes.select(DAG, {"a", "e"})
    assert list(plan) == ["a", "b", "c", "d", "e"]  # topological
    assert plan["d"] == {"b", "c"} and plan["b"] == {"a"}
    assert lanes.select(DAG, set()) == {}


def test_select_limits_to_targets_and_their_ancestors():
    assert set(lanes.select(DAG, {"a", "e"}, ["b"])) == {"a", "b"}
    assert set(lanes.select(DAG, {"a", "e"}, ["e"])) == {"e"}
    grouped = {"gen@x": set(), "gen@y": set(), "train@x": {"gen@x"}}
    assert set(lanes.select(grouped, set(grouped), ["gen"])) == {"gen@x", "gen@y"}  # a foreach group


def test_select_allow_missing_skips_absent_data_unless_a_planned_stage_reads_it():
    # a and b ran in an earlier session on another machine: dvc.lock matches, their data is gone
    assert lanes.select(DAG, set(), missing={"a", "b", "c"}) == {}
    # d's code changed: it reads b and c, which read a, so all three are rebuilt first
    plan = lanes.select(DAG, {"d"}, missing={"a", "b", "c", "e"})
    assert plan == {"a": frozenset(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
    # c changed: d reruns after it and reads the missing b, which is rebuilt from the missing a
    plan = lanes.select(DAG, {"c"}, missing={"a", "b"})
    assert set(plan) == {"a", "b", "c", "d"}
    # only what a planned stage reads: e changed, nothing reads the missing a
    assert lanes.select(DAG, {"e"}, missing={"a"}) == {"e": frozenset()}
    # a stage both edited and missing is edited
    assert set(lanes.select(DAG, {"b"}, missing={"b"})) == {"b", "d"}
    with pytest.raises(lanes.LanesError, match="not in the DAG"):
        lanes.select(DAG, set(), missing={"zz"})


def test_split_status_tells_missing_data_from_edits():
    produced = {"data/m", "data/d.parquet"}
    report = {
        "dvc.yaml:train": [
            {"changed deps": {"data/d.parquet": "deleted"}},
            {"changed outs": {"data/m": "not in cache"}},
        ],
        "gen": [{"changed outs": {"data/d.parquet": "deleted"}}],
        "dvc.yaml:rl": [{"changed deps": {"data/m": "deleted", "params.yaml": {"rl.defaults": "modified"}}}],
        "src_gone": [{"changed deps": {"src/x.py": "deleted"}}],  # a deleted source file is an edit
        "edited_out": [{"changed outs": {"data/m": "modified"}}],
        "cmd": ["changed command"],
    }
    edited, missing = lanes.split_status(report, produced)
    assert missing == {"train", "gen"}
    assert edited == {"rl", "src_gone", "edited_out", "cmd"}


@pytest.mark.parametrize(
    ("dag", "changed", "targets", "match"),
    [
        (DAG, set(), ["nope"], "unknown stage 'nope'"),
        (DAG, {"zz"}, [], "not in the DAG"),
        ({"a": {"b"}, "b": {"a"}}, {"a"}, [], "cycle"),
        ({"a": {"ghost"}}, set(), [], "unknown stages"),
    ],
)
def test_select_rejects_bad_input_by_name(dag, changed, targets, match):
    with pytest.raises(lanes.LanesError, match=match):
        lanes.select(dag, changed, targets)


def test_priorities_follow_the_costliest_downstream_chain():
    plan = lanes.select(DAG, {"a", "e"})
    cost = {"a": 1, "b": 5, "c": 1, "d": 2, "e": 4}.__getitem__
    prio = lanes.priorities(plan, cost)
    assert prio == {"d": 2, "b": 7, "c": 3, "a": 8, "e": 4}


def test_measured_seconds_replace_the_static_weights(tmp_path):
    cost = lanes.measured_cost(tmp_path)  # nothing recorded yet
    assert cost("pretrain@base") == lanes.WEIGHTS["pretrain"]
    lanes.record_times(tmp_path, {"pretrain@base": 4600.04})
    lanes.record_times(tmp_path, {"evaluate@base": 380.0})  # merges with the earlier run
    cost = lanes.measured_cost(tmp_path)
    assert cost("pretrain@base") == 4600.0 and cost("evaluate@base") == 380.0
    assert cost("rl@x") == lanes.WEIGHTS["rl"]
    assert lanes.measured_cost(tmp_path, alone=True)("pretrain@base") == 4600.0  # no alone run: the lane's
    lanes.record_times(tmp_path, {"pretrain@base" + lanes.ALONE: 2100.0, "rl@y" + lanes.ALONE: 300.0})
    cost, alone = lanes.measured_cost(tmp_path), lanes.measured_cost(tmp_path, alone=True)
    assert cost("pretrain@base") == 4600.0 and alone("pretrain@base") == 2100.0
    assert cost("rl@y") == alone("rl@y") == 300.0  # timed only alone: the best measurement there is
    assert lanes.timed_stages(tmp_path) == {"pretrain@base", "evaluate@base", "rl@y"}
    (tmp_path / lanes.TIMES).write_text("not json")
    assert lanes.measured_cost(tmp_path)("rl@x") == lanes.WEIGHTS["rl"]  # a bad file is ignored


class FakeJob:
    """Finishes after ``ticks`` polls with ``rc``; records what ran at the same time."""

    def __init__(self, name, world, ticks, rc, alone=False):
        self.name, self.world, self.ticks, self.rc = name, world, ticks, rc
        if alone:
            world["alone"].append(name)
        world["running"].add(name)
        world["peak"] = max(world["peak"], len(world["running"]))
        world["started"].append((name, frozenset(world["finished"])))

    def poll(self):
        self.ticks -= 1
        if self.ticks > 0:
            return None
        self.world["running"].discard(self.name)
        self.world["finished"].add(self.name)
        return self.rc

    def terminate(self):
        self.world["terminated"].append(self.name)


def run_fake(plan, lanes_n, ticks=None, rcs=None, rank=None, cost=None):
    """``schedule`` over fake jobs. With ``cost`` (stage -> expected seconds) the clock is simulated:
    each poll of the running jobs is one second."""
    world = {"running": set(), "finished": set(), "started": [], "peak": 0, "terminated": [], "alone": []}
    ticks, rcs = ticks or {}, rcs or {}
    timing = {"poll_s": 0, "sleep": lambda _: None}
    if cost is not None:
        now = [0.0]

        def sleep(_):
            now[0] += 1.0

        timing = {"poll_s": 1, "sleep": sleep, "clock": lambda: now[0], "cost": cost}
    out = lanes.schedule(
        plan,
        lambda s, alone: FakeJob(s, world, ticks.get(s, 1), rcs.get(s, 0), alone),
        lanes=lanes_n,
        rank=rank,
        log=lambda _: None,
        **timing,
    )
    return out, world


def test_schedule_respects_dependencies_and_the_lane_limit():
    plan = lanes.select(DAG, {"a", "e"})
    out, world = run_fake(plan, 2, ticks={"a": 3, "e": 1, "b": 2, "c": 4})
    assert out.ok and sorted(out.finished) == ["a", "b", "c", "d", "e"]
    assert world["peak"] == 2
    for name, finished_before in world["started"]:
        assert plan[name] <= finished_before, name
    # highest priority first: a (chain a-b-d) starts before e
    assert [s for s, _ in world["started"]][:2] == ["a", "e"]
    # only d starts with nothing else running or ready: it may take every lane's threads
    assert world["alone"] == ["d"]
    out1, world1 = run_fake(plan, 1)
    assert out1.ok and world1["peak"] == 1


def test_the_first_targets_stages_start_before_the_rest():
    # two findings off one base: ev@z -> fig_z, ev@y and ev@y2 -> fig_y; equal costs, so without ranks
    # the ready evaluations start by name (y before z)
    dag = {"base": set(), "ev@z": {"base"}, "ev@y": {"base"}, "ev@y2": {"base"}, "fig_z": {"ev@z"}}
    dag["fig_y"] = {"ev@y", "ev@y2"}
    plan = lanes.select(dag, {"base"})
    rank = lanes.target_ranks(plan, dag, ["fig_z", "fig_y"])
    assert rank == {"base": 0, "ev@z": 0, "fig_z": 0, "ev@y": 1, "ev@y2": 1, "fig_y": 1}
    by_group = lanes.target_ranks(plan, dag, ["fig_y", "ev"])  # a foreach group's name: all its stages
    assert by_group == {"base": 0, "ev@y": 0, "ev@y2": 0, "fig_y": 0, "ev@z": 1, "fig_z": 2}
    assert lanes.target_ranks(plan, dag, []) == dict.fromkeys(plan, 0)
    _, world = run_fake(plan, 1)
    assert [s for s, _ in world["started"]][:3] == ["base", "ev@y", "ev@y2"]
    out, world = run_fake(plan, 1, rank=rank)
    assert out.ok and [s for s, _ in world["started"]] == ["base", "ev@z", "fig_z", "ev@y", "ev@y2", "fig_y"]
    for name, finished_before in world["started"]:
        assert plan[name] <= finished_before, name


def test_simulate_gives_the_schedules_wall_time_for_known_stage_costs():
    plan = lanes.select(DAG, {"a", "e"})
    cost = {"a": 10.0, "b": 50.0, "c": 20.0, "d": 5.0, "e": 30.0}.__getitem__
    # two lanes: a and e at 0; b at 10 (a done); c at 30 (e done); d at 60 (b done), ends at 65
    assert lanes.simulate(plan, cost, lanes=2) == 65.0
    assert lanes.simulate(plan, cost, lanes=1) == 115.0  # one lane: the sum
    # finding e first (its rank 0) does not change the two-lane end here, only who waits
    assert lanes.simulate(plan, cost, lanes=2, rank=lanes.target_ranks(plan, DAG, ["e", "d"])) == 65.0
    # a stage that starts alone is charged its alone time: a alone (4 instead of 10), then b and c
    # side by side in lanes, then d alone (2 instead of 5): 4 + 50 + 2
    only_a = lanes.select(DAG, {"a"})
    alone = {"a": 4.0, "b": 1.0, "c": 1.0, "d": 2.0, "e": 1.0}.__getitem__
    assert lanes.simulate(only_a, cost, lanes=2) == 65.0
    assert lanes.simulate(only_a, cost, lanes=2, alone_cost=alone) == 56.0
    line = lanes.estimate_line(plan, cost, 2, {}, timed={"a", "b", "c"})
    assert line.startswith("about 0.02 h in 2 lanes (0.03 h of stage time); 3 stages timed")
    assert line.endswith("2 by the per-kind weights: d, e")


def test_each_finished_stage_is_reported_as_it_ends_and_recorded_only_if_dvc_ran_it(tmp_path):
    plan = lanes.select(DAG, {"a", "e"})
    seen = []
    world = {"running": set(), "finished": set(), "started": [], "peak": 0, "terminated": [], "alone": []}
    lanes.schedule(
        plan,
        lambda s, alone: FakeJob(s, world, 1, 1 if s == "c" else 0, alone),
        lanes=2,
        poll_s=0,
        log=lambda _: None,
        sleep=lambda _: None,
        on_done=lambda s, t: seen.append((s, sorted(world["finished"]))),
    )
    # every successful stage, each reported when it ends (not all at the end); c failed, d never ran
    assert [s for s, _ in seen] == ["a", "e", "b"]
    assert all(s in finished for s, finished in seen)
    logs = tmp_path / lanes.LOG_DIR
    logs.mkdir(parents=True)
    (logs / "a.log").write_text("Running stage 'a':\n> python stages/a.py\n")
    (logs / "b.log").write_text("Stage 'b' didn't change, skipping\n")
    lanes._record_if_ran(tmp_path, "a", 12.34)
    lanes._record_if_ran(tmp_path, "b", 3.0)
    assert lanes._load_times(tmp_path) == {"a": 12.3}
    # a stage that resumed a killed run ran only its last part: the earlier, whole record stays
    lanes._record_if_ran(tmp_path, "a", 5.0, resumed=True)
    assert lanes._load_times(tmp_path) == {"a": 12.3}


def test_a_stage_with_a_resume_state_is_known_to_resume(tmp_path):
    assert not lanes._resumes(tmp_path, "pretrain@seed_b0")
    (tmp_path / runs.resume_dir("seed_b0") / "state").mkdir(parents=True)
    assert lanes._resumes(tmp_path, "pretrain@seed_b0")
    assert lanes._resumes(tmp_path, "rl@seed_b0")  # the run name decides, as in stages/train.py and rl.py
    assert not lanes._resumes(tmp_path, "pretrain@seed_b1")
    assert not lanes._resumes(tmp_path, "report")


def test_a_long_stage_waits_for_short_ones_to_run_alone():
    # e (short) and g (short) start; l (long, after g) becomes ready while e still runs: it waits for e
    plan = {"e": frozenset(), "g": frozenset(), "l": frozenset({"g"})}
    cost = {"e": 10.0, "g": 5.0, "l": 1000.0}.__getitem__
    out, world = run_fake(plan, 2, ticks={"e": 3, "g": 1, "l": 2}, cost=cost)
    assert out.ok
    assert world["alone"] == ["l"]  # started only after e had finished
    assert dict(world["started"])["l"] >= {"e", "g"}


def _run_long_beside(short_cost: float):
    """l (long) and three short stages ready at once, in two lanes; returns the fake world."""
    plan = {"l": frozenset(), "s1": frozenset(), "s2": frozenset(), "s3": frozenset()}
    cost = {"l": 1000.0, "s1": short_cost, "s2": short_cost, "s3": short_cost}.__getitem__
    out, world = run_fake(plan, 2, ticks={"l": 2}, cost=cost)
    assert out.ok
    return world


def test_a_long_stage_lets_short_ready_ones_go_first_to_run_alone():
    # three 20 s stages ready beside a 1,000 s one: 30 s each lane, under a tenth of it, so the short
    # ones run first and the long one then gets every lane's threads
    world = _run_long_beside(20.0)
    assert world["alone"][-1] == "l"  # (the last short one, then running by itself, gets both too)
    assert dict(world["started"])["l"] >= {"s1", "s2", "s3"}
    # three 200 s stages: 300 s each lane is too long to wait for, so the long one starts at once
    world = _run_long_beside(200.0)
    assert "l" not in world["alone"] and world["started"][0][0] == "l"


def test_a_failed_stage_stops_its_descendants_only():
    plan = lanes.select(DAG, {"a", "e"})
    out, world = run_fake(plan, 2, rcs={"b": 3})
    assert out.failed == {"b": 3}
    assert out.skipped == ["d"] and not out.ok
    assert {"a", "c", "e"} <= set(out.finished)
    assert "d" not in {s for s, _ in world["started"]}


def test_interrupt_terminates_running_jobs():
    world = {"running": set(), "finished": set(), "started": [], "peak": 0, "terminated": [], "alone": []}

    def sleep(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lanes.schedule(
            {"a": frozenset(), "e": frozenset()},
            lambda s, alone: FakeJob(s, world, 5, 0, alone),
            lanes=2,
            poll_s=0,
            log=lambda _: None,
            sleep=sleep,
        )
    assert sorted(world["terminated"]) == ["a", "e"]


# a runner as `python -m interplay.lanes` sets it up (stop handlers, the jobs file), over two real jobs
# that would sleep for a minute, each in its own session
_RUNNER = textwrap.dedent("""\
    import sys
    from pathlib import Path
    from interplay import lanes
    root = Path(sys.argv[1])
    lanes.install_stop_handlers()
    job = lambda s, alone: lanes.Process(s, root, 1, [], cmd=["sleep", "60"])
    try:
        lanes.schedule({"a": frozenset(), "b": frozenset()}, job, lanes=2, poll_s=0.1, log=lambda _: None)
    except lanes.Stopped as stop:
        raise SystemExit(128 + stop.signum)
    """)


def _start_runner(root: Path) -> tuple[subprocess.Popen, dict[str, int]]:
    (root / "runner.py").write_text(_RUNNER)
    proc = subprocess.Popen([sys.executable, str(root / "runner.py"), str(root)], start_new_session=True)
    jobs = lanes.JobsFile(root)
    deadline = time.monotonic() + 30
    while len(jobs.stale()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, "the runner never started its jobs"
        time.sleep(0.05)
    return proc, jobs.stale()


def _gone(pgids) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not any(lanes._alive(p, None) for p in pgids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_ends_the_running_jobs_process_groups(tmp_path, sig):
    proc, pgids = _start_runner(tmp_path)
    assert sorted(pgids) == ["a", "b"]
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == 128 + sig
    assert _gone(pgids.values()), "jobs outlived their runner"
    assert not (tmp_path / lanes.JOBS).exists()  # nothing left for the next run to wait for


def test_after_a_kill_9_the_next_run_finds_the_jobs_and_ends_or_waits_for_them(tmp_path):
    proc, pgids = _start_runner(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    jobs = lanes.JobsFile(tmp_path)
    assert jobs.stale() == pgids  # orphans: still running, found from the jobs file
    said = []
    waiter = threading.Thread(target=jobs.wait_stale, kwargs={"poll_s": 0.05, "log": said.append})
    waiter.start()
    deadline = time.monotonic() + 10  # the waiter's first line, however loaded the machine
    while not said and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiter.is_alive() and "--kill-stale" in said[0] and "a, b" in said[0]
    assert jobs.end_stale(timeout_s=10) == pgids
    assert _gone(pgids.values())
    waiter.join(timeout=10)
    assert not waiter.is_alive() and jobs.stale() == {}


def test_a_jobs_file_naming_a_reused_pid_is_not_stale(tmp_path):
    # a live process group whose leader is alive (the test's own group may have lost its leader,
    # e.g. under CI's shell), named with another start time: a pid reused since the jobs file was written
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        jobs = lanes.JobsFile(tmp_path)
        (tmp_path / lanes.JOBS).parent.mkdir(parents=True)
        (tmp_path / lanes.JOBS).write_text(json.dumps({"x": [other.pid, "1"]}))
        assert jobs.stale() == {}
        (tmp_path / lanes.JOBS).write_text(json.dumps({"x": [other.pid, lanes._start_time(other.pid)]}))
        assert jobs.stale() == {"x": other.pid}  # the same process: still running
        (tmp_path / lanes.JOBS).write_text("not json")
        assert jobs.stale() == {}
    finally:
        other.kill()
        other.wait()


def _git_dvc_repo(root: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "init", "-q"], cwd=root, check=True, env=env)
    subprocess.run(["dvc", "init", "-q"], cwd=root, check=True, env=env)
    # b and c each wait (up to 20 s) for the other to have started: they finish only if they overlap
    stage = textwrap.dedent("""\
        import pathlib, sys, time
        me, other, src = sys.argv[1:4]
        pathlib.Path(f"started_{me}").write_text("")
        t = time.time()
        while not pathlib.Path(f"started_{other}").exists():
            if time.time() - t > 20:
                sys.exit(f"{other} never ran beside {me}")
            time.sleep(0.05)
        pathlib.Path(f"{me}.txt").write_text(pathlib.Path(src).read_text() + me)
        """)
    (root / "stage.py").write_text(stage)
    (root / "params.yaml").write_text("c: 1\n")
    py = sys.executable
    join = "open('d.txt','w').write(open('b.txt').read() + open('c.txt').read())"
    (root / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "a": {"cmd": f"{py} -c \"open('a.txt','w').write('a')\"", "outs": ["a.txt"]},
                    "b": {
                        "cmd": f"{py} stage.py b c a.txt",
                        "deps": ["a.txt", "stage.py"],
                        "outs": ["b.txt"],
                    },
                    "c": {
                        "cmd": f"{py} stage.py c b a.txt",
                        "deps": ["a.txt", "stage.py"],
                        "params": ["c"],
                        "outs": ["c.txt"],
                    },
                    "d": {
                        "cmd": f'{py} -c "{join}"',
                        "deps": ["b.txt", "c.txt"],
                        "outs": ["d.txt"],
                    },
                }
            }
        )
    )
    return env


def test_two_lanes_run_a_real_dvc_dag(tmp_path, monkeypatch):
    env = _git_dvc_repo(tmp_path)
    lane = [sys.executable, "-m", "interplay.lanes"]
    res = subprocess.run([*lane, "-j", "2"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "d.txt").read_text() == "abac"
    status = subprocess.run(
        ["dvc", "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert status.stdout.strip() == "{}"
    # DVC's own reading of the DAG: who reads from whom, and every path a stage writes (the runner
    # works in the repository's root, as DVC names stages relative to the working directory)
    monkeypatch.chdir(tmp_path)
    upstream, produced = lanes.dag(tmp_path)
    assert upstream == {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
    assert produced == {"a.txt", "b.txt", "c.txt", "d.txt"}
    locked = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert set(locked) == {"a", "b", "c", "d"}
    seconds = json.loads((tmp_path / lanes.TIMES).read_text())
    assert lanes.timed_stages(tmp_path) == {"a", "b", "c", "d"} and all(v > 0 for v in seconds.values())
    # a stage the runner started alone is recorded as such
    alone_started = set(re.findall(r"start\s+(\S+) \(alone: all threads\)", res.stdout))
    assert alone_started  # a runs alone here: nothing else is ready before it ends
    assert {k for k in seconds if k.endswith(lanes.ALONE)} == {s + lanes.ALONE for s in alone_started}
    # a params edit plans exactly that stage and what lies downstream of it
    (tmp_path / "params.yaml").write_text("c: 2\n")
    dry = subprocess.run([*lane, "--dry"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    planned = [line.split()[0] for line in dry.stdout.splitlines() if line.startswith("  ")]
    assert sorted(planned) == ["c", "d"]
    bad = subprocess.run([*lane, "nope"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown stage 'nope'" in bad.stderr


def test_allow_missing_resumes_a_grid_whose_data_is_gone(tmp_path):
    """A new machine: dvc.lock and the git-tracked files came with the clone, the DVC cache did not."""
    env = _git_dvc_repo(tmp_path)
    lane = [sys.executable, "-m", "interplay.lanes"]
    subprocess.run([*lane, "-j", "2"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    locked = (tmp_path / "dvc.lock").read_text()
    for out in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (tmp_path / out).unlink()
    subprocess.run(["rm", "-rf", str(tmp_path / ".dvc" / "cache")], check=True)

    def planned(*flags: str) -> list[str]:
        dry = subprocess.run([*lane, "--dry", *flags], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        return sorted(line.split()[0] for line in dry.stdout.splitlines() if line.startswith("  "))

    assert planned() == ["a", "b", "c", "d"]  # without the flag: everything missing reruns
    assert planned("--allow-missing") == []  # with it: nothing changed but the data's presence
    # an edit to d's inputs' params: c and d run, and the missing a and b they read are rebuilt
    # (b and c only finish side by side, so this also runs the rebuilt b beside c)
    (tmp_path / "params.yaml").write_text("c: 2\n")
    assert planned("--allow-missing") == ["a", "b", "c", "d"]
    (tmp_path / "params.yaml").write_text("c: 1\n")
    (tmp_path / "dvc.yaml").write_text((tmp_path / "dvc.yaml").read_text().replace("'d.txt'", "'d.txt' "))
    res = subprocess.run([*lane, "--allow-missing"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "d.txt").read_text() == "abac"
    # the rebuilt stages gave the bytes dvc.lock recorded: only d's command entry moved
    before = yaml.safe_load(locked)["stages"]
    after = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert [s for s in before if before[s]["cmd"] != after[s]["cmd"]] == ["d"]
    for s in before:
        assert (before[s].get("deps"), before[s]["outs"]) == (after[s].get("deps"), after[s]["outs"])


def test_heartbeat_reports_each_running_stage_and_the_expected_end(tmp_path):
    """Every heartbeat: one line per running stage with its last progress, time in, time left (from
    its progress, else its recorded cost), and the plan's critical path."""
    plan = {"train": frozenset(), "eval": frozenset({"train"})}
    world = {"running": set(), "finished": set(), "started": [], "peak": 0, "terminated": [], "alone": []}
    cost = {"train": 600.0, "eval": 300.0}.__getitem__
    now, logged = [0.0], []

    def sleep(_):
        now[0] += 60.0

    out = lanes.schedule(
        plan,
        lambda s, alone: FakeJob(s, world, {"train": 4, "eval": 2}[s], 0, alone),
        lanes=2,
        poll_s=60,
        log=logged.append,
        clock=lambda: now[0],
        sleep=sleep,
        cost=cost,
        progress=lambda s: "train 120/480 (25%), tok_s 11,199" if s == "train" else None,
        heartbeat_s=120,
    )
    assert out.ok
    beats = [line for line in logged if "..." in line]
    first = next(line for line in beats if "train:" in line)
    # a quarter done after 2 minutes: 6 more (its recorded cost, 10 min, would say 8)
    assert "train 120/480 (25%), tok_s 11,199; 2 min in, about 6 min left" in first
    # the train stage's rest (6 min) plus the evaluation after it (5 min)
    assert any("expected end in about 11 min (1 stages waiting)" in line for line in beats)
    # no progress reported: the recorded cost (5 min) minus the time so far
    assert any("eval: running; 2 min in, about 3 min left" in line for line in beats)


def test_heartbeat_prefers_the_progress_bars_own_estimate():
    """A run resumed at 82% shows 84% two minutes later; its bar's estimate (21 min) counts only
    this run's steps, where done/total over the time so far would say under 1 minute."""
    lines = lanes.heartbeat(
        {"train": (object(), 0.0)},
        {},
        {"train": 600.0},
        {"train": 600.0}.__getitem__,
        lambda s: "train 6171/7324 (84%), tok_s 4,221, 21:00 left",
        now=120.0,
    )
    assert lines[0] == "train: train 6171/7324 (84%), tok_s 4,221, 21:00 left; 2 min in, about 21 min left"
    assert lines[1] == "expected end in about 21 min (0 stages waiting)"
    # many independent stages waiting: the work shared over 2 lanes (21 + 10 x 10 min) / 2, not
    # the longest chain (21 min)
    waiting = {f"e{i}": frozenset() for i in range(10)}
    lines = lanes.heartbeat(
        {"train": (object(), 0.0)},
        waiting,
        {"train": 600.0, **dict.fromkeys(waiting, 600.0)},
        lambda s: 600.0,
        lambda s: "train 6171/7324 (84%), tok_s 4,221, 21:00 left" if s == "train" else None,
        now=120.0,
        lanes=2,
    )
    assert lines[-1] == "expected end in about 60 min (10 stages waiting)"


def test_last_progress_reads_the_stage_log(tmp_path):
    log = tmp_path / "s.log"
    assert lanes.last_progress(log) is None  # no log yet
    log.write_text(
        "Running stage 'pretrain@base':\n"
        "train:   1%|          | 10/1464 [00:30<1:00:00, 1.31s/step, loss=2.1, tok_s=3,120]"
        "\rtrain:  33%|###       | 485/1464 [14:10<30:36, 1.88s/step, loss=0.281, tok_s=2,203]"
    )
    assert lanes.last_progress(log) == "train 485/1464 (33%), tok_s 2,203, 30:36 left"
    # just resumed: no estimate yet, and a rate field with no number is not a rate
    log.write_text("train:  82%|########  | 6000/7324 [00:00<?, ?step/s, loss=0.1]")
    assert lanes.last_progress(log) == "train 6000/7324 (82%)"
    log.write_text("no bar here\n")
    assert lanes.last_progress(log) is None
