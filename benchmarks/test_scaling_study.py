"""Benchmarks of the scaling_study group: one test per experiment, parametrized from the registry."""

import pytest

from zkbench.fixtures.checks import why_not_done
from zkbench.results.fields import outcome


@pytest.mark.experiments("scaling_study")
def test_scaling_study(experiment, run_benchmark):
    result = run_benchmark(experiment)  # runs or resumes it; skips it, or fails a stage that stopped it
    assert result["verified"], why_not_done(result)
    assert outcome(result) == "done", why_not_done(result)  # status ok, proven outputs within tol
