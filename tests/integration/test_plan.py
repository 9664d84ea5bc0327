"""Plan mode: its candidate evaluation is the run's (one candidate cache), and its estimate of an
experiment's time counts the search, setup and the rounds --rounds would run."""

from zkbench.engine.config import RunConfig
from zkbench.engine.estimate import plan_experiment
from zkbench.engine.experiment import run_experiment


def test_a_plan_and_a_run_share_their_candidate_evaluations(tmp_path):
    # a run first: a plan at the circuit it chose reads the run's evaluation, no prover call
    ran = run_experiment("ReLU", 2.0, RunConfig(rounds=1, cache_dir=tmp_path / "a"))
    chosen = ran["circuit"]
    run_args = {k: chosen[k] for k in ("input_scale", "param_scale", "decomp_base", "decomp_legs", "num_inner_cols")}
    after = plan_experiment("ReLU", 2.0, RunConfig(rounds=1, cache_dir=tmp_path / "a"), run_args, basis=ran)
    assert after["status"] == "ok" and after["candidate"]["from_cache"]
    assert (after["logrows"], after["num_rows"]) == (chosen["logrows"], ran["circuit"]["num_rows"])
    assert after["estimate"]["search_evaluations"] == ran["stages"]["search"]["evaluations"]

    # a plan first: the run's search reads the plan's evaluation of the circuit it chooses
    before = plan_experiment("ReLU", 2.0, RunConfig(rounds=1, cache_dir=tmp_path / "b"), run_args)
    assert before["status"] == "ok" and not before["candidate"]["from_cache"]
    assert before["candidate"]["meets_target"] and before["logrows"] == chosen["logrows"]
    run = run_experiment("ReLU", 2.0, RunConfig(rounds=1, cache_dir=tmp_path / "b"))
    assert run["circuit"]["logrows"] == chosen["logrows"]
    assert run["stages"]["search"]["reused"] >= 1
    assert any(c.get("cached") for c in run["search"]["candidates"])
