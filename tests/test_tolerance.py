import math

import pytest

from zkbench.engine.tolerance import Candidate, accuracy, search, tol_metric, top1_agreement


def test_tol_metric_is_max_error_over_max_output_in_percent():
    assert tol_metric([1.0, 2.0, -4.1], [1.0, 2.0, -4.0]) == pytest.approx(0.1 / 4.0 * 100)
    assert tol_metric([0, 0], [0, 0]) == 0.0
    assert math.isinf(tol_metric([0.1], [0.0]))
    with pytest.raises(ValueError):
        tol_metric([1, 2], [1])


def test_accuracy_takes_the_worst_sample_and_skips_near_zero_for_percent():
    acc = accuracy([([1.0, 0.0], [1.0, 0.0]), ([2.2, 1e-9], [2.0, 0.0])])
    assert acc["samples"] == 2
    assert acc["max_abs_error"] == pytest.approx(0.2)
    assert acc["tol_metric"] == pytest.approx(10.0)
    assert acc["mean_abs_percent_error"] == pytest.approx((0 + 10) / 2)
    assert top1_agreement([([0, 1], [0, 2]), ([1, 0], [0, 1])]) == 0.5


def fake_circuit(c: Candidate) -> dict:
    """Error halves with each scale; the lookup table grows with scale; cols and decomposition set rows."""
    rows = {2: 2000, 4: 1000}[c.num_inner_cols] + {16384: 0, 1024: 300}[c.decomp_base]
    table = max(2 ** (c.scale + 3), {16384: 16384, 1024: 1024}[c.decomp_base])
    return {
        "logrows": max(rows, table).bit_length(),
        "num_rows": rows,
        "total_assignments": rows * c.num_inner_cols,
        "tol_metric": 100 / 2**c.scale,
    }


def test_search_picks_the_cheapest_circuit_meeting_tol_and_records_every_candidate():
    grid = dict(scales=range(1, 12), decompositions=[(16384, 2), (1024, 3)], inner_cols=[2, 4])
    tried, chosen = search(0.5, fake_circuit, **grid)
    best = tried[chosen]
    assert best["tol_metric"] <= 0.5 and best["scale"] == 8  # 100/2^8 = 0.39
    assert (best["decomp_base"], best["num_inner_cols"]) == (1024, 4)
    assert all("meets_tol" in t and "logrows" in t for t in tried)
    # a looser tolerance is never a costlier circuit, and here it is cheaper
    tried2, chosen2 = search(2.0, fake_circuit, **grid)
    assert (tried2[chosen2]["logrows"], tried2[chosen2]["num_rows"]) < (best["logrows"], best["num_rows"])


def test_search_skips_scales_already_known_to_miss_and_survives_failing_candidates():
    seen = []

    def evaluate(c):
        seen.append(c)
        return {"error": "RuntimeError: range check"} if c.decomp_base == 128 else fake_circuit(c)

    tried, chosen = search(0.5, evaluate, scales=range(1, 12), decompositions=[(16384, 2), (128, 4)], inner_cols=[2])
    assert chosen is not None and tried[chosen]["decomp_base"] == 16384
    later = [c.scale for c in seen if c.decomp_base == 128]
    assert min(later) == 8  # started at the first passing scale, not at 1
    assert any("error" in t for t in tried)


def test_search_reports_none_when_nothing_meets_tol():
    tried, chosen = search(0.001, fake_circuit, scales=[1, 2], decompositions=[(16384, 2)], inner_cols=[2])
    assert chosen is None and len(tried) == 2
