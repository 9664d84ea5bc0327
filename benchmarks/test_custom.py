"""The user's own ONNX models (--models-dir DIR): collected only when that option is given."""

import pytest

from zkbench.fixtures.checks import why_not_done
from zkbench.results.fields import outcome


@pytest.mark.experiments("custom")
def test_custom(experiment, run_benchmark):
    result = run_benchmark(experiment)  # runs or resumes it; skips it, or fails a stage that stopped it
    assert result["verified"], why_not_done(result)
    assert outcome(result) == "done", why_not_done(result)  # status ok, proven outputs within tol
