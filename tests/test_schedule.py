"""Longest-first list scheduling under xdist (fixtures/schedule.py).

The unit tests drive the schedulers through the calls DSession makes, with fake worker nodes
that follow xdist's worker loop (``xdist.remote.WorkerInteractor.run_one_test``): a worker runs
a test only once it holds the one after it (or the shutdown marker). Time is simulated.
"""

from __future__ import annotations

import json
import random
import textwrap
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScheduling

from zkbench.fixtures.controller import Controller
from zkbench.fixtures.schedule import LongestFirstScheduling
from zkbench.layers import SPECS, TOLERANCES, experiment_id

pytest_plugins = ["pytester"]

SHUTDOWN = "<shutdown>"


class FakeNode:
    """A WorkerController as the scheduler sees it, plus the worker's queue and loop."""

    def __init__(self, name: str):
        self.gateway = SimpleNamespace(id=name)
        self.queue: deque = deque()
        self.sent: list = []  # every command, for comparing schedulers
        self.shutdown_sent = False
        self.state, self.item, self.next, self.ends = "need_first", None, None, None
        self.ran: list[int] = []

    def __repr__(self):
        return self.gateway.id

    @property
    def shutting_down(self) -> bool:
        return self.shutdown_sent

    def send_runtest_some(self, indices):
        assert not self.shutdown_sent, f"{self}: tests sent after shutdown never run"
        self.queue.extend(indices)
        self.sent.append(list(indices))

    def shutdown(self):
        if not self.shutdown_sent:
            self.queue.append(SHUTDOWN)
            self.sent.append(SHUTDOWN)
        self.shutdown_sent = True

    def step(self, now: float, durations) -> bool:
        """Advance the worker loop as far as its queue allows; True if anything happened."""
        if self.state == "need_first" and self.queue:  # nextitem_index = torun.get()
            self.item = self.queue.popleft()
            self.state = "done" if self.item == SHUTDOWN else "need_next"
            return True
        if self.state == "need_next" and self.queue:  # run_one_test: get() the next
            self.next = self.queue.popleft()
            self.state, self.ends = "running", now + durations[self.item]
            self.ran.append(self.item)
            return True
        return False


def fake_config(workers: int, maxschedchunk: int | None = 1, dist: str = "load"):
    options = {"tx": [f"{workers}*popen"], "maxschedchunk": maxschedchunk, "dist": dist}
    return SimpleNamespace(getvalue=options.__getitem__, getoption=options.__getitem__)


QUIET = Producer("sched", enabled=False)


def simulate(make, durations, workers: int):
    """Run `durations` (seconds per test, in collection order) on `workers` fake workers with
    the scheduler `make(config, clock)`, as DSession drives it. Returns (makespan, nodes)."""
    clock = SimpleNamespace(now=0.0)
    sched = make(fake_config(workers), lambda: clock.now)
    nodes = [FakeNode(f"gw{i}") for i in range(workers)]
    ids = [f"test_x.py::test[{i}]" for i in range(len(durations))]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, ids)
    sched.schedule()
    shutting_down = False
    while True:
        while any(node.step(clock.now, durations) for node in nodes):
            pass
        if sched.tests_finished and not shutting_down:  # DSession.triggershutdown
            shutting_down = True
            for node in sched.nodes:
                node.shutdown()
            continue
        running = [node for node in nodes if node.state == "running"]
        if not running:
            break
        node = min(running, key=lambda n: n.ends)
        clock.now = node.ends
        done = node.item
        node.item, node.state = node.next, ("done" if node.next == SHUTDOWN else "need_next")
        sched.mark_test_complete(node, done, durations[done])
        if node.state == "done":
            assert sched.remove_node(node) is None  # workerfinished: nothing left on it
    stuck = [n for n in nodes if n.state != "done"]
    assert not stuck, f"workers never finished (deadlock): {stuck}"
    ran = sorted(i for n in nodes for i in n.ran)
    assert ran == list(range(len(durations))), "every test runs exactly once"
    return clock.now, nodes


def xdist_load(config, clock):
    return LoadScheduling(config, QUIET)


def longest_first(config, clock):
    return LongestFirstScheduling(config, QUIET, clock=clock)


def with_estimates(estimates):
    """The scheduler as the plugin makes it: with the controller's estimate per test."""
    return lambda config, clock: LongestFirstScheduling(
        config, QUIET, estimate=lambda nodeid: estimates[int(nodeid.rsplit("[", 1)[1][:-1])], clock=clock
    )


def bound(durations, workers: int) -> float:
    return max(sum(durations) / workers, max(durations))


def test_in_order_chunks_stack_the_two_longest_on_gw0_and_longest_first_meets_the_bound():
    durations = [4, 3, 1, 1, 1]  # longest first, as the plugin sorts experiments
    assert bound(durations, 2) == 5

    makespan, nodes = simulate(xdist_load, durations, 2)
    assert nodes[0].ran[:2] == [0, 1] and makespan == 7  # what xdist does with --maxschedchunk=1

    for make in (longest_first, with_estimates(durations)):
        makespan, nodes = simulate(make, durations, 2)
        assert makespan == 5
        assert [n.ran[0] for n in nodes] == [0, 1]  # the two longest start at once, on different workers
        assert nodes[0].sent[0] == [0, 3] and nodes[1].sent[0] == [1, 2]  # one test beyond the running one


@pytest.mark.parametrize(
    "durations, workers",
    [
        ([4, 3, 1, 1, 1], 2),
        ([9, 8, 7, 2, 2, 2, 1, 1, 1, 1, 1, 1], 3),  # a paper-like tail of short cases
        ([600, 500, 90, 60, 40, 30, 20, 10, 10, 5, 5, 5, 3, 3, 2, 2], 2),
        ([7, 7, 6, 6, 5, 5, 1, 1, 1], 3),
    ],
)
def test_longest_first_meets_the_bound_where_in_order_chunking_misses_it(durations, workers):
    target = 1.1 * bound(durations, workers)
    assert simulate(xdist_load, durations, workers)[0] > target
    assert simulate(longest_first, durations, workers)[0] <= target
    assert simulate(with_estimates(durations), durations, workers)[0] <= target


def test_with_estimates_the_longest_case_is_not_held_up_by_a_second_one():
    """A worker must hold a test beyond the one it runs. Without estimates the one behind the
    dominant case is the longest of the second round; with them it is the shortest left."""
    durations, workers = [130, 18, 15, 15, 14, 13, 8, 7], 2
    assert simulate(longest_first, durations, workers)[0] == 145
    makespan, nodes = simulate(with_estimates(durations), durations, workers)
    assert makespan == 137 and nodes[0].ran == [0, 7]


def random_study(rng, noise: float):
    """A few long cases and many short ones, sorted by estimate (off by up to `noise`)."""
    true = [rng.uniform(50, 300) for _ in range(rng.randint(1, 5))] + [
        rng.uniform(1, 20) for _ in range(rng.randint(5, 40))
    ]
    estimate = [t * rng.uniform(1 - noise, 1 + noise) for t in true]
    order = sorted(range(len(true)), key=lambda i: -estimate[i])
    return [true[i] for i in order], [estimate[i] for i in order], rng.randint(2, 4)


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_random_long_tailed_studies_meet_the_bound_far_more_often(noise):
    """Where xdist's in-order chunking is within 10 % of max(total / N, longest) about a third of
    the time, longest first is in nine cases out of ten, and never worse than 1.5 x the bound."""
    rng, n = random.Random(7), 300
    met = {"xdist": 0, "order": 0, "estimates": 0}
    for _ in range(n):
        durations, estimates, workers = random_study(rng, noise)
        target = bound(durations, workers)
        runs = {
            "xdist": simulate(xdist_load, durations, workers)[0],
            "order": simulate(longest_first, durations, workers)[0],
            "estimates": simulate(with_estimates(estimates), durations, workers)[0],
        }
        for name, makespan in runs.items():
            met[name] += makespan <= 1.1 * target
        assert runs["order"] <= 1.5 * target and runs["estimates"] <= 1.5 * target
    assert met["xdist"] < 0.5 * n
    assert met["order"] >= 0.85 * n and met["estimates"] >= met["order"], met


def test_fewer_tests_than_two_per_worker_all_go_out_at_once():
    for durations, workers, ours, theirs in [
        ([5, 4, 3], 2, 7, 8),  # xdist deals round-robin: 5 and 3 on gw0
        ([6, 5, 4, 3, 2], 3, 7, 9),  # 6 and 3 on gw0
        ([5, 4], 3, 5, 5),  # fewer tests than workers: one stays idle and is shut down
    ]:
        assert simulate(xdist_load, durations, workers)[0] == theirs
        for make in (longest_first, with_estimates(durations)):
            makespan, nodes = simulate(make, durations, workers)
            assert makespan == ours, (durations, workers)
            assert all(n.sent[-1] == SHUTDOWN and n.sent.count(SHUTDOWN) == 1 for n in nodes)


def test_without_experiments_it_schedules_exactly_as_xdist():
    durations = [0.5, 0.2, 0.1, 1.0, 0.3, 0.2, 0.1, 0.4, 0.2, 0.1, 0.6]
    for workers in (2, 3):
        theirs = simulate(xdist_load, durations, workers)
        ours = simulate(
            lambda c, clock: LongestFirstScheduling(c, QUIET, applies=lambda ids: False, clock=clock),
            durations,
            workers,
        )
        assert ours[0] == theirs[0]
        assert [n.sent for n in ours[1]] == [n.sent for n in theirs[1]]


def test_a_crashed_workers_tests_go_back_in_rank():
    sched = LongestFirstScheduling(fake_config(2), QUIET)
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    ids = [f"t.py::t[{i}]" for i in range(6)]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, ids)
    sched.schedule()
    assert sched.node2pending == {nodes[0]: [0, 3], nodes[1]: [1, 2]} and sched.pending == [4, 5]
    assert sched.remove_node(nodes[0]) == ids[0]  # crashed running test 0, held test 3
    assert sched.pending == [3, 4, 5]
    sched.mark_test_pending(ids[0])  # re-run it (pytest_handlecrashitem)
    assert sched.pending == [0, 3, 4, 5]
    sched.mark_test_complete(nodes[1], 1, 1.0)
    assert sched.node2pending[nodes[1]] == [2, 0]  # the longest left, not the tail
    replacement = FakeNode("gw2")  # xdist starts a new worker
    sched.add_node(replacement)
    sched.add_node_collection(replacement, ids)
    sched.schedule()
    assert sched.node2pending[replacement] == [3, 4] and replacement.sent == [[3, 4]]


def test_the_plugin_installs_it_for_dist_load_and_uses_it_for_experiments():
    eid = "ReLU_tol0.5"
    controller = SimpleNamespace(costs={eid: 12.0})
    sched = Controller.pytest_xdist_make_scheduler(controller, fake_config(2), QUIET)
    assert isinstance(sched, LongestFirstScheduling)
    experiment = f"benchmarks/test_core_layers.py::test_core_layer[{eid}]"
    assert sched.applies([experiment, "tests/test_x.py::t"])
    assert not sched.applies(["tests/test_x.py::t", "tests/test_x.py::p[1]"])
    assert sched.estimate(experiment) == 12.0 and sched.estimate("tests/test_x.py::t") == 0.0
    assert Controller.pytest_xdist_make_scheduler(controller, fake_config(2, dist="loadscope"), QUIET) is None


SLEEPS = [4.0, 3.0, 1.0, 1.0, 1.0]  # in-order 2-chunks: gw0 runs 4 + 3 = 7 s; the bound is 5 s


@pytest.mark.integration
def test_real_xdist_run_meets_the_bound(pytester):
    """Two real xdist workers on sleep tests (no CPU needed, so a loaded machine does not skew
    them): the measured makespan is within 10 % of max(total / N, longest) plus hand-out slack."""
    pytester.makeconftest(
        textwrap.dedent("""
        import pytest
        from zkbench.fixtures.schedule import LongestFirstScheduling

        @pytest.hookimpl(optionalhook=True)
        def pytest_xdist_make_scheduler(config, log):
            return LongestFirstScheduling(config, log)
    """)
    )
    pytester.makepyfile(
        test_sleeps=textwrap.dedent(f"""
        import json, os, time
        import pytest

        @pytest.mark.parametrize("seconds", {SLEEPS!r})
        def test_sleep(seconds):
            start = time.time()
            time.sleep(seconds)
            with open("spans.jsonl", "a") as f:
                f.write(json.dumps([os.environ["PYTEST_XDIST_WORKER"], seconds, start, time.time()]) + "\\n")
    """)
    )
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--maxschedchunk=1",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:zkbench.fixtures.plugin",
        "-p",
        "no:benchmark",
        timeout=120,
    )
    result.assert_outcomes(passed=len(SLEEPS))
    spans = [json.loads(line) for line in (pytester.path / "spans.jsonl").read_text().splitlines()]
    makespan = max(s[3] for s in spans) - min(s[2] for s in spans)
    per_worker = {w: [s[1] for s in spans if s[0] == w] for w in {s[0] for s in spans}}
    target = bound(SLEEPS, 2)
    assert makespan <= 1.1 * target + 0.5, (makespan, per_worker)  # xdist's own: 7 s, 4 + 3 on gw0


def test_the_tolerances_of_one_layer_are_kept_a_worker_count_apart():
    from zkbench.fixtures.plugin import spread_siblings

    longest_first = ["A-0.5", "A-2", "B-0.5", "B-2", "C-0.5", "C-2"]
    layer = lambda x: x[0]  # noqa: E731
    two = spread_siblings(longest_first, layer, 2)
    assert two == ["A-0.5", "B-0.5", "A-2", "B-2", "C-0.5", "C-2"]  # C-2 last: no other left to put between
    assert spread_siblings(longest_first, layer, 3) == ["A-0.5", "B-0.5", "C-0.5", "A-2", "B-2", "C-2"]
    assert spread_siblings(longest_first, layer, 1) == longest_first  # one worker: nothing runs at once
    assert spread_siblings(["A-0.5", "A-2"], layer, 2) == ["A-0.5", "A-2"]  # nothing to interleave with


def test_a_run_without_results_takes_its_estimates_from_the_committed_baseline(tmp_path):
    from zkbench.fixtures.costs import BASELINE, baseline_durations

    def entry(experiment, stage, mean, rounds=1, cached=False, profile="smoke"):
        info = {"experiment": experiment, "stage": stage, "cached": cached, "profile": profile, "status": "ok"}
        return {"extra_info": {**info, "backend": "ezkl-23"}, "stats": {"mean": mean, "rounds": rounds}}

    doc = {
        "benchmarks": [
            entry("ReLU-tol2", "search", 0.5),
            entry("ReLU-tol2", "prove", 1.0, rounds=3),
            entry("ReLU-tol2", "srs", 9.0, cached=True),  # built by an earlier experiment: not this one's time
            entry("ReLU-tol2", "prove", 99.0, profile="paper"),
        ]
    }
    (tmp_path / "bench.json").write_text(json.dumps(doc))
    assert baseline_durations(tmp_path / "bench.json", "smoke") == {("ReLU-tol2", "ezkl-23"): 3.5}
    assert baseline_durations(tmp_path / "missing.json", "smoke") == {}
    # the repository's own: experiments of the registry only (a layer added since has none yet: its
    # cost is the size proxy's), LayerNorm (a small layer by FLOPs) near its real cost
    shipped = baseline_durations(Path(__file__).parents[1] / BASELINE, "smoke")
    study = {experiment_id(s.name, t) for s in SPECS for t in TOLERANCES}
    assert (
        shipped
        and {e for e, _ in shipped} <= study
        and shipped["LayerNorm-tol0.5", "ezkl-23"] > 2 * shipped["ReLU-tol0.5", "ezkl-23"]
    )
