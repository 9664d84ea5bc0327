import math
import random

import pytest

from zkbench.engine.search.algorithm import ASSUMPTIONS, MONOTONE, REFERENCE_SCALE, SCALE_ONLY, search
from zkbench.engine.search.candidate import Candidate, cost, structure_of
from zkbench.engine.search.explain import explain_miss
from zkbench.engine.search.metric import accuracy, tol_metric, top1_agreement


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
    tried, chosen, _ = search(0.5, fake_circuit, **grid)
    best = tried[chosen]
    assert best["tol_metric"] <= 0.5 and best["scale"] == 8  # 100/2^8 = 0.39
    assert (best["decomp_base"], best["num_inner_cols"]) == (1024, 4)
    assert all("meets_tol" in t and "logrows" in t for t in tried)
    # a looser tolerance is never a costlier circuit, and here it is cheaper
    tried2, chosen2, _ = search(2.0, fake_circuit, **grid)
    assert (tried2[chosen2]["logrows"], tried2[chosen2]["num_rows"]) < (best["logrows"], best["num_rows"])


def test_search_skips_scales_already_known_to_miss_and_survives_failing_candidates():
    seen = []

    def evaluate(c):
        seen.append(c)
        return {"error": "RuntimeError: range check"} if c.decomp_base == 128 else fake_circuit(c)

    tried, chosen, _ = search(0.5, evaluate, scales=range(1, 12), decompositions=[(16384, 2), (128, 4)], inner_cols=[2])
    assert chosen is not None and tried[chosen]["decomp_base"] == 16384
    later = [c.scale for c in seen if c.decomp_base == 128]
    assert min(later) == 8  # started at the first passing scale, not at 1
    assert any("error" in t for t in tried)


def test_search_reports_none_when_nothing_meets_tol():
    tried, chosen, fallback = search(0.001, fake_circuit, scales=[1, 2], decompositions=[(16384, 2)], inner_cols=[2])
    # the highest scale misses: under the falling error, so does every lower one
    assert chosen is None and [t["scale"] for t in tried] == [2] and fallback is None


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
    tried_full, chosen_full, _ = search(tol, full, scan="exhaustive", **GRID)
    tried_fast, chosen_fast, _ = search(tol, fast, **GRID)
    pick = lambda tried, i: None if i is None else {k: tried[i][k] for k in ("scale", "decomp_base", "num_inner_cols")}
    assert pick(tried_fast, chosen_fast) == pick(tried_full, chosen_full)
    assert len(fast_calls) <= len(full_calls)
    if chosen_full is not None and tried_full[chosen_full]["scale"] > 4:
        assert len(fast_calls) < len(full_calls)


def falling_errors(seed: int):
    """A random circuit family whose error falls 2**slope per scale step, with noise but monotone;
    and a tolerance."""
    rng = random.Random(seed)
    start, slope = rng.uniform(5, 500), rng.uniform(0.3, 1.2)
    noise = [rng.uniform(0.8, 1.2) for _ in range(17)]

    def evaluate(c):
        out = fake_circuit(c)
        out["tol_metric"] = start / 2 ** (slope * c.scale) * min(noise[: c.scale + 1])
        return out

    return evaluate, rng.choice([0.4, 1.6])


@pytest.mark.parametrize("seed", range(40))
def test_bisection_matches_the_exhaustive_scan_on_random_falling_errors(seed):
    evaluate, tol = falling_errors(seed)
    full = search(tol, evaluate, scan="exhaustive", **GRID)
    fast = search(tol, evaluate, **GRID)
    key = lambda r: (
        (r[0][r[1]]["scale"], r[0][r[1]]["decomp_base"], r[0][r[1]]["num_inner_cols"]) if r[1] is not None else None
    )
    assert key(fast) == key(full)


def test_known_evaluations_are_used_first_and_marked_cached():
    store = {}
    first, first_calls = counting(fake_circuit)
    tried, _, _ = search(0.4, first, known=lambda c: store.get(c), **GRID)
    store.update(
        {
            Candidate(t["scale"], t["decomp_base"], t["decomp_legs"], t["num_inner_cols"]): {
                k: v for k, v in t.items() if k not in ("meets_tol",)
            }
            for t in tried
        }
    )
    again, again_calls = counting(fake_circuit)
    tried2, chosen2, _ = search(0.4, again, known=lambda c: store.get(c), **GRID)
    assert again_calls == [] and chosen2 is not None  # the same search again costs nothing
    looser, looser_calls = counting(fake_circuit)
    search(2.0, looser, known=lambda c: store.get(c), **GRID)
    alone, alone_calls = counting(fake_circuit)
    search(2.0, alone, **GRID)
    assert len(looser_calls) < len(alone_calls)  # a looser tolerance reuses the stricter one's points


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


def fake_bound(c: Candidate) -> dict:
    """What gen_settings says of fake_circuit before calibration: its rows, and the decomposition's
    table (the lookup table, which grows with the scale, is left to calibration)."""
    out = fake_circuit(c)
    table = {16384: 16384, 1024: 1024}[c.decomp_base]
    return {
        "logrows": max(out["num_rows"], table).bit_length(),
        "num_rows": out["num_rows"],
        "total_assignments": out["total_assignments"],
    }


def chosen_key(outcome) -> tuple | None:
    tried, chosen = outcome[0], outcome[1]
    return (
        None
        if chosen is None
        else (tried[chosen]["scale"], tried[chosen]["decomp_base"], tried[chosen]["num_inner_cols"])
    )


@pytest.mark.parametrize("seed", range(40))
def test_pruning_by_lower_bounds_chooses_what_the_exhaustive_scan_chooses(seed):
    evaluate, tol = falling_errors(seed)
    full, full_calls = counting(evaluate)
    fast, fast_calls = counting(evaluate)
    exhaustive = search(tol, full, scan="exhaustive", **GRID)
    bounded = search(tol, fast, bound=fake_bound, **GRID)
    assert chosen_key(bounded) == chosen_key(exhaustive) and bounded.fallback is None
    assert len(fast_calls) <= len(full_calls)
    # a pruned structure really costs more than the choice, at its first passing scale
    pruned = [t for t in bounded.candidates if "pruned" in t]
    assert bounded.chosen is not None or not pruned
    for t in pruned:  # every passing circuit of a pruned structure really costs more than the choice
        best = bounded.candidates[bounded.chosen]
        assert t["meets_tol"] is None and cost(t["lower_bound"]) > cost(best)
        same = [r for r in exhaustive.candidates if r["meets_tol"] and structure_of(r) == structure_of(t)]
        assert all(cost(r) >= cost(best) for r in same)


def test_the_bisected_structure_is_the_one_with_the_least_bound_and_others_are_not_evaluated():
    calls = []

    def evaluate(c):
        calls.append(c)
        return fake_circuit(c)

    outcome = search(0.4, evaluate, bound=fake_bound, **GRID)
    # 1024^3 with 4 columns: 1300 rows, an 11-bit table; the others need more rows or a 15-bit table
    assert {(c.decomp_base, c.num_inner_cols) for c in calls} == {(1024, 4)}
    assert calls[0].scale == REFERENCE_SCALE
    assert chosen_key(outcome) == chosen_key(search(0.4, fake_circuit, scan="exhaustive", **GRID))
    assert len([t for t in outcome.candidates if "pruned" in t]) == 3


def test_a_cost_below_its_bound_ends_the_shortcut_and_the_scan_decides():
    def too_high(c):  # a bound logrows above what the circuit needs
        b = fake_bound(c)
        return {**b, "logrows": b["logrows"] + 3}

    outcome = search(0.4, fake_circuit, bound=too_high, **GRID)
    assert outcome.fallback and "below its bound" in outcome.fallback
    assert chosen_key(outcome) == chosen_key(search(0.4, fake_circuit, scan="exhaustive", **GRID))


def test_an_error_that_differs_by_structure_ends_the_shortcut_and_the_scan_decides():
    def evaluate(c):  # the 16384 decomposition loses precision: its error is twice the others'
        out = fake_circuit(c)
        out["tol_metric"] *= 2 if c.decomp_base == 16384 else 1
        return out

    def cheap_16384(c):  # so that its structures are not pruned and get evaluated
        return {**fake_bound(c), "logrows": 1}

    outcome = search(0.4, evaluate, bound=cheap_16384, **GRID)
    assert outcome.fallback and "differs by structure" in outcome.fallback
    assert chosen_key(outcome) == chosen_key(search(0.4, evaluate, scan="exhaustive", **GRID))


def test_when_the_highest_scale_misses_no_other_structure_is_scanned():
    calls = []

    def evaluate(c):
        calls.append(c)
        return {**fake_circuit(c), "tol_metric": 50.0}  # an operator ezkl reads differently: flat error

    outcome = search(0.4, evaluate, bound=fake_bound, **GRID)
    assert outcome.chosen is None and outcome.fallback is None
    assert len(calls) <= 3 and max(c.scale for c in calls) == 16  # not 16 scales x 4 structures
    assert "does not fall" in explain_miss(outcome.candidates, 0.4)


def grid_truth(tol: float, evaluate, scales, decompositions, inner_cols) -> tuple | None:
    """The cheapest passing candidate of the whole grid, every candidate evaluated: what neither scan
    assumes anything to find."""
    cands = [Candidate(s, b, legs, c) for c in inner_cols for b, legs in decompositions for s in scales]
    passing = [(cost(r), c.scale, c) for c in cands if (r := evaluate(c))["tol_metric"] <= tol]
    if not passing:
        return None
    _, _, best = min(passing, key=lambda t: (t[0], t[1]))
    return best.scale, best.decomp_base, best.num_inner_cols


def chosen_cost(outcome) -> tuple:
    r = outcome.candidates[outcome.chosen]
    return r["scale"], r["logrows"]


def test_an_error_that_depends_on_the_structure_unseen_is_assumed_away():
    """The 16384 decomposition with twice the error, and a realistic bound that prunes it unevaluated:
    no evaluation contradicts SCALE_ONLY, so no fallback is recorded. Here bisect still finds the
    grid's cheapest (scale 8, logrows 12) while the ascending scan, which starts every later structure
    at the first structure's passing scale, misses it (scale 9, logrows 13). Both scans say so."""

    def evaluate(c):
        out = fake_circuit(c)
        out["tol_metric"] *= 2 if c.decomp_base == 16384 else 1
        return out

    bisect = search(0.4, evaluate, bound=fake_bound, **GRID)
    ascending = search(0.4, evaluate, scan="exhaustive", **GRID)
    assert bisect.fallback is None and chosen_cost(bisect) == (8, 12)
    assert chosen_cost(ascending) == (9, 13)
    assert chosen_key(bisect) == grid_truth(0.4, evaluate, **GRID)
    assert SCALE_ONLY in ASSUMPTIONS["bisect"] and SCALE_ONLY in ASSUMPTIONS["exhaustive"]


def test_a_non_monotone_error_is_assumed_away():
    """A low scale that happens to pass (scale 3 here) below failing ones: bisect, which never looks
    below a failing scale, keeps scale 8 / logrows 12; the ascending scan finds 3 / 11, the grid's
    cheapest. No fallback: nothing it evaluated contradicts MONOTONE, which both scans assume."""

    def evaluate(c):
        out = fake_circuit(c)
        out["tol_metric"] = 0.1 if c.scale == 3 else out["tol_metric"]
        return out

    bisect = search(0.4, evaluate, bound=fake_bound, **GRID)
    ascending = search(0.4, evaluate, scan="exhaustive", **GRID)
    assert bisect.fallback is None and chosen_cost(bisect) == (8, 12)
    assert chosen_cost(ascending) == (3, 11) and chosen_key(ascending) == grid_truth(0.4, evaluate, **GRID)
    assert MONOTONE in ASSUMPTIONS["bisect"] and MONOTONE in ASSUMPTIONS["exhaustive"]
