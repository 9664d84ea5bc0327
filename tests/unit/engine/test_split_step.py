"""zkbench/engine/split_step.py and the --split option: how the parts' stage records add up, and the
one-line errors of a bad --split."""

import pytest

from zkbench.cli import main as zkbench
from zkbench.engine.config import parse_split
from zkbench.engine.options import run_config
from zkbench.engine.split_step import summed_stage


def record(seconds, peak, cached=False):
    return {"seconds": seconds, "cpu_seconds": [s / 2 for s in seconds], "peak_rss_bytes": peak, "cached": cached}


def test_a_split_stage_is_its_parts_one_after_another():
    s = summed_stage([record([1.0, 2.0], 100), record([0.5, 0.25], 300, cached=True)])
    assert s["seconds"] == [1.5, 2.25] and s["cpu_seconds"] == [0.75, 1.125]
    assert s["peak_rss_bytes"] == 300 and s["cached"] is False and s["parts"] == 2
    assert summed_stage([record([1.0], 1, True), record([1.0], 2, True)])["cached"] is True


@pytest.mark.parametrize(
    "value, parsed",
    [("never", "never"), ("auto", "auto"), (" Auto ", "auto"), ("1", "never"), ("3", 3), (4, 4), (" 2 ", 2)],
)
def test_split_values(value, parsed):
    assert parse_split(value) == parsed
    assert run_config({"split": str(value)}).split == parsed


@pytest.mark.parametrize(
    "value, says", [("0", ">= 1"), ("-2", ">= 1"), ("two", "whole number"), ("half", "auto, never or")]
)
def test_a_bad_split_is_a_one_line_error(value, says, capsys):
    with pytest.raises(ValueError, match=says) as e:
        run_config({"split": value})
    assert "\n" not in str(e.value)
    assert zkbench(["run", "ReLU", "--split", value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_a_splits_gpu_block_says_what_its_parts_measured():
    from zkbench.engine.split_step import split_gpu

    def block(used, prove_peak):
        return {
            "mode": "gpu",
            "uuid": "GPU-1",
            "stages": {},
            "used_by_prover": used,
            "prover_peak_mem_bytes": {"prove": prove_peak},
            "note": f"used={used}",
        }

    both = split_gpu([block(True, 5), block(True, 9)])
    assert both["used_by_prover"] is True and both["prover_peak_mem_bytes"] == {"prove": 9} and both["uuid"] == "GPU-1"
    assert split_gpu([block(False, None), block(False, None)])["used_by_prover"] is False
    mixed = split_gpu([block(True, 5), block(None, None)])
    assert mixed["used_by_prover"] is True and mixed["prover_peak_mem_bytes"] == {"prove": 5}
    assert split_gpu([block(False, None), block(None, None)])["used_by_prover"] is None
    assert "part 2: used=None" in split_gpu([block(False, None), block(None, None)])["note"]
