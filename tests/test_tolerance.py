import math
import random

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


GRID = dict(scales=range(1, 17), decompositions=[(16384, 2), (1024, 3)], inner_cols=[2, 4])


def counting(evaluate):
    calls = []

    def counted(c):
        calls.append(c)
        return evaluate(c)

    return counted, calls


@pytest.mark.parametrize("tol", [0.4, 0.5, 1.6, 2.0, 10.0, 0.001])
def test_bisection_chooses_what_the_exhaustive_scan_chooses_with_fewer_evaluations(tol):
    full, full_calls = counting(fake_circuit)
    fast, fast_calls = counting(fake_circuit)
    tried_full, chosen_full = search(tol, full, scan="exhaustive", **GRID)
    tried_fast, chosen_fast = search(tol, fast, **GRID)
    pick = lambda tried, i: None if i is None else {k: tried[i][k] for k in ("scale", "decomp_base", "num_inner_cols")}
    assert pick(tried_fast, chosen_fast) == pick(tried_full, chosen_full)
    assert len(fast_calls) <= len(full_calls)
    if chosen_full is not None and tried_full[chosen_full]["scale"] > 4:
        assert len(fast_calls) < len(full_calls)


@pytest.mark.parametrize("seed", range(40))
def test_bisection_matches_the_exhaustive_scan_on_random_falling_errors(seed):
    rng = random.Random(seed)
    start, slope = rng.uniform(5, 500), rng.uniform(0.3, 1.2)  # error falls 2**slope per step
    noise = [rng.uniform(0.8, 1.2) for _ in range(17)]

    def evaluate(c):
        out = fake_circuit(c)
        out["tol_metric"] = start / 2 ** (slope * c.scale) * min(noise[: c.scale + 1])  # monotone
        return out

    tol = rng.choice([0.4, 1.6])
    full = search(tol, evaluate, scan="exhaustive", **GRID)
    fast = search(tol, evaluate, **GRID)
    key = lambda r: (
        (r[0][r[1]]["scale"], r[0][r[1]]["decomp_base"], r[0][r[1]]["num_inner_cols"]) if r[1] is not None else None
    )
    assert key(fast) == key(full)


def test_known_evaluations_are_used_first_and_marked_cached():
    store = {}
    first, first_calls = counting(fake_circuit)
    tried, _ = search(0.4, first, known=lambda c: store.get(c), **GRID)
    store.update(
        {
            Candidate(t["scale"], t["decomp_base"], t["decomp_legs"], t["num_inner_cols"]): {
                k: v for k, v in t.items() if k not in ("meets_tol",)
            }
            for t in tried
        }
    )
    again, again_calls = counting(fake_circuit)
    tried2, chosen2 = search(0.4, again, known=lambda c: store.get(c), **GRID)
    assert again_calls == [] and chosen2 is not None  # the same search again costs nothing
    looser, looser_calls = counting(fake_circuit)
    search(2.0, looser, known=lambda c: store.get(c), **GRID)
    assert len(looser_calls) < len(first_calls)  # a looser tolerance reuses the stricter one's points


def test_a_candidate_that_cannot_be_built_ends_the_bisection_in_order():
    def evaluate(c):
        return {"error": "RuntimeError: lookup overflow"} if c.scale >= 12 else fake_circuit(c)

    grid = dict(GRID, decompositions=[(16384, 2)], inner_cols=[2])
    full = search(0.5, evaluate, scan="exhaustive", **grid)
    fast = search(0.5, evaluate, **grid)
    assert fast[0][fast[1]]["scale"] == full[0][full[1]]["scale"] == 8


def test_an_unknown_scan_is_an_error():
    with pytest.raises(ValueError, match="unknown scan 'linear'"):
        search(1.0, fake_circuit, scan="linear")
