"""Longest-first list scheduling under xdist (fixtures/schedule.py).

The unit tests drive the schedulers through the calls DSession makes, with fake worker nodes
that follow xdist's worker loop (``xdist.remote.WorkerInteractor.run_one_test``): a worker runs
a test only once it holds the one after it (or the shutdown marker). Time is simulated."""

from __future__ import annotations

import json
import textwrap

pytest_plugins = ["pytester"]


def bound(durations, workers: int) -> float:
    return max(sum(durations) / workers, max(durations))


SLEEPS = [4.0, 3.0, 1.0, 1.0, 1.0]  # in-order 2-chunks: gw0 runs 4 + 3 = 7 s; the bound is 5 s


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
