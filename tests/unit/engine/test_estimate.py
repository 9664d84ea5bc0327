"""Plan mode: its candidate evaluation is the run's (one candidate cache), and its estimate of an
experiment's time counts the search, setup and the rounds --rounds would run."""

import pytest

from zkbench.engine.config import RunConfig
from zkbench.engine.estimate import time_estimate
from zkbench.engine.experiment import Experiment


@pytest.mark.parametrize(("prove_s", "rounds"), [(17.2, 5), (150.0, 4), (200.0, 3), (599.0, 1), (900.0, 1)])
def test_plan_counts_the_rounds_auto_will_choose(prove_s, rounds):
    # auto proves again while one more round of the same length fits the budget, 1 to 5 rounds
    assert Experiment.planned_auto_rounds(prove_s, 600.0) == rounds


def test_the_time_estimate_says_what_each_part_comes_from(tmp_path):
    prediction = {"prove_seconds": 20.0}
    smoke = {"stages": {"search": {"evaluations": 6}, "setup": {"seconds": [1.0]}, "prove": {"seconds": [2.0, 2.0]}}}
    auto = RunConfig(cache_dir=tmp_path, profile="paper", rounds="auto", round_budget_s=100.0)
    est = time_estimate(prediction, 4.0, auto, smoke)
    assert (est["search_s"], est["search_evaluations"], est["setup_s"], est["rounds"]) == (24.0, 6, 10.0, 5)
    assert est["total_s"] == 24.0 + 10.0 + 5 * 20.0
    fixed = time_estimate(prediction, 4.0, RunConfig(cache_dir=tmp_path, rounds=2), None)
    assert fixed["rounds"] == 2 and fixed["rounds_from"] == "--rounds"
    assert "no smoke result" in fixed["search_from"] and "no smoke result" in fixed["setup_from"]
