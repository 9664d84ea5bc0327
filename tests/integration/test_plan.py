"""Plan mode: its candidate evaluation is the run's (one candidate cache), and its estimate of an
experiment's time counts the search, setup and the rounds --rounds would run."""

from zkbench.engine.config import RunConfig
from zkbench.engine.estimate import plan_experiment, plan_split
from zkbench.engine.experiment import predicted, run_experiment
from zkbench.engine.split_choice import weigh
from zkbench.layers import get


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


# 1024 x 3: range-check tables of 2^10 rows, so logrows follow the rows (not the tables) as parts shrink
RUN_ARGS = {"input_scale": 7, "param_scale": 7, "decomp_base": 1024, "decomp_legs": 3, "num_inner_cols": 4}


def test_a_circuit_too_big_to_evaluate_is_predicted_from_gen_settings_alone(tmp_path):
    """LayerNorm (no tiles) with the evaluation cap below its size: no calibration, no witness; the
    logrows gen_settings alone needs are a lower bound of the evaluated circuit's, and it says so."""
    cfg = RunConfig(rounds=1, cache_dir=tmp_path)
    bound = plan_experiment("LayerNorm", 2.0, cfg, RUN_ARGS, evaluate_max_logrows=5)
    evaluated = plan_experiment("LayerNorm", 2.0, cfg, RUN_ARGS)
    assert bound["status"] == evaluated["status"] == "ok"
    assert bound["candidate"]["tol_metric"] is None and "gen_settings alone" in bound["candidate"]["predicted_from"]
    assert evaluated["candidate"]["tol_metric"] is not None and "predicted_from" not in evaluated["candidate"]
    assert 5 < bound["logrows"] <= evaluated["logrows"] and bound["num_rows"] <= evaluated["num_rows"]
    assert 0 < bound["prediction"]["peak_rss_bytes"] <= evaluated["prediction"]["peak_rss_bytes"]


def test_plan_mode_plans_a_split_where_the_memory_demands_it(tmp_path):
    """Conv2d_k3_s1 (smoke): under 70 % of its one circuit's predicted peak the plan is --split auto's,
    the fewest parts predicted to fit; at 24 GiB one circuit; LayerNorm (no tiles) as statistics and
    normalising parts where the whole does not fit, nowhere below its smallest part."""
    cfg = RunConfig(rounds=1, cache_dir=tmp_path)
    # the least one circuit needs laid out any way (a memory no layout fits: the ladder's first rung)
    least = plan_split(get("Conv2d_k3_s1"), 2.0, cfg, RUN_ARGS, [2**20])["by_memory"][0]["ladder"][0]
    assert least["parts"] == 1 and not least["fits"]
    memories = [int(least["predicted_peak_rss_bytes"] * 0.9), 24 * 2**30]
    conv = plan_split(get("Conv2d_k3_s1"), 2.0, cfg, RUN_ARGS, memories)
    assert conv["status"] == "ok" and conv["probe"]["parts"] == 1
    small, big = conv["by_memory"]
    assert small["parts"] >= 2 and small["peak_rss_bytes"] <= memories[0] < conv["whole"]["peak_rss_bytes"]
    assert big["parts"] == 1 and big["peak_rss_bytes"] == conv["whole"]["peak_rss_bytes"]
    assert small["total_s"] > 0 and [r["parts"] for r in small["ladder"]][0] == 1
    roomy = plan_split(get("LayerNorm"), 2.0, cfg, RUN_ARGS, [24 * 2**30])
    one = roomy["by_memory"][0]
    # the least the whole needs laid out any way (weighed against a budget nothing fits)
    least = weigh(1, roomy["settings"], lambda s: predicted(s, cfg), 1).peak_rss_bytes
    assert least <= one["peak_rss_bytes"]
    norm = plan_split(get("LayerNorm"), 2.0, cfg, RUN_ARGS, [int(least * 0.8), 10 * 2**20, 24 * 2**30])
    split, nowhere, whole = norm["by_memory"]
    assert split["parts"] >= 3 and split["how"].endswith("after 1 statistics parts")
    assert split["peak_rss_bytes"] <= int(least * 0.8) and split["ladder"][-1]["fits"]
    assert nowhere["parts"] is None and "normalising parts (its most) need" in nowhere["why"]
    assert whole["parts"] == 1 and whole == one
