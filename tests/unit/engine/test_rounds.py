"""--rounds auto: repeat prove while one more round fits the budget; a single round's spread is unknown."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zkbench.engine.config import AUTO_MAX_ROUNDS, DEFAULT_ROUNDS, RunConfig, parse_rounds
from zkbench.engine.experiment import Experiment
from zkbench.engine.stage_records import measured
from zkbench.tools.compare.rules import REGRESSION, _time_row
from zkbench.tools.compare.runs import Timing


@pytest.mark.parametrize("value, parsed", [(3, 3), ("3", 3), ("auto", "auto"), (" AUTO ", "auto"), ("1", 1)])
def test_rounds_setting(value, parsed):
    assert parse_rounds(value) == parsed


@pytest.mark.parametrize("value", [0, "0", "-1", "2.5", "many", None])
def test_bad_rounds_setting_is_one_line(value, tmp_path):
    with pytest.raises(ValueError, match="rounds must be a whole number >= 1 or auto"):
        RunConfig(cache_dir=tmp_path, rounds=value)


def test_paper_defaults_to_auto_and_smoke_to_three():
    assert DEFAULT_ROUNDS == {"smoke": 3, "paper": "auto"}


def auto(times: list[float], budget: float) -> tuple[int, dict]:
    """Experiment.auto_rounds over prove rounds that take `times` seconds in turn."""
    exp = SimpleNamespace(cfg=SimpleNamespace(round_budget_s=budget), r={})
    it = iter(times)
    replies = Experiment.auto_rounds(exp, lambda: {"seconds": next(it)})  # type: ignore[arg-type]
    return len(replies), exp.r["rounds"]


def test_auto_repeats_while_one_more_round_fits_the_budget():
    n, record = auto([1.0] * 10, budget=2.5)  # 1 s spent + ~1 s more fits 2.5 s; 2 + 1 does not
    assert n == 2 and record["chosen"] == 2 and record["requested"] == "auto" and record["budget_s"] == 2.5
    assert "past the 2.5 s budget" in record["why"]


def test_auto_runs_one_round_of_a_proof_longer_than_the_budget():
    n, record = auto([900.0], budget=600)
    assert n == 1 and record["chosen"] == 1


def test_auto_stops_at_its_cap_for_quick_proofs():
    n, record = auto([0.5] * 10, budget=600)
    assert n == AUTO_MAX_ROUNDS and "the most auto allows" in record["why"]


def reply(seconds: float) -> dict:
    return {
        "seconds": seconds,
        "cpu_seconds": seconds,
        "peak_rss_bytes": 100,
        "base_rss_bytes": 10,
        "rss_method": "VmHWM",
    }


def test_a_single_rounds_spread_is_unknown_not_zero():
    assert measured(reply(2.0))["spread_s"] is None
    assert measured(reply(2.0), reply(2.5))["spread_s"] == pytest.approx(0.5)


def test_compare_says_when_a_verdict_rests_on_one_round():
    base, new = Timing(1.0, 1.0, 1.0, False, None, 1), Timing(2.0, 2.0, 2.0, False, None, 3)
    row = _time_row("ReLU-tol2", "prove", base, new, 0.2, 0.05)
    assert row.verdict == REGRESSION and row.note == "spread unknown: base 1 round"
    three = Timing(1.0, 0.9, 1.1, False, None, 3)
    assert _time_row("ReLU-tol2", "prove", three, new, 0.2, 0.05).note is None
