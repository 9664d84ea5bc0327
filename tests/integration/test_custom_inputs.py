"""Inputs of a --models-dir model: calibration.json, in-domain variations, and the failure hint
when the error does not fall with the scale."""

import json
from pathlib import Path

from zkbench.layers.custom import CustomSpec

MODELS = Path(__file__).parents[1] / "data" / "models"


# proves a real circuit
def test_a_short_calibration_json_is_run_with_the_samples_it_has(tmp_path, copy_model):
    from zkbench.engine.config import RunConfig
    from zkbench.engine.experiment import run_experiment

    d = copy_model(tmp_path)
    two = [[float(i + j + 1) / 10 for j in range(10)] for i in range(2)]  # 2 samples; 16 + 4 asked for
    (d / "calibration.json").write_text(json.dumps({"input_data": [[v for s in two for v in s]]}))
    r = run_experiment("mlp", 2.0, RunConfig(rounds=1, cache_dir=tmp_path / "cache"), spec=CustomSpec("mlp", d))
    assert r["status"] == "ok", r.get("failure")
    assert r["workload"]["calibration_samples"] == r["search"]["calibration_samples"] == 1
    assert r["workload"]["heldout_samples"] == r["accuracy"]["samples"] == 2  # the user's own + 1 from the file
