"""zkbench.resources.predict: pk / peak-RSS / time prediction from settings.json, against the shipped measured points."""

import argparse
import copy
import json
import math
import shlex

import pytest

import zkbench.tools.predict as predict_tool
from zkbench.cli import main as zkbench
from zkbench.resources.predict import fitting, layout, model

DATA = json.loads(model.DATA_PATH.read_text())


POINTS = DATA["points"]


CONSTANTS = DATA["constants"]


# Largest |error| in percent on points not fitted on (zkbench predict check --cv 5 on the
# shipped points, with margin): pk is exact; peak RSS is the target of the model.
HELD_OUT_MAX = {"pk_bytes": 1.0, "setup_peak_rss_bytes": 25.0, "prove_peak_rss_bytes": 10.0}


def ids(points):
    return [p["id"] for p in points]


def test_shipped_data_has_points_over_a_range_of_logrows():
    ks = {p["settings"]["run_args"]["logrows"] for p in POINTS}
    assert len(POINTS) >= 40
    assert min(ks) <= 11 and max(ks) >= 16, ks
    assert set(CONSTANTS) == set(model.CONSTANT_NAMES)


@pytest.fixture(scope="module")
def held_out():
    """Every shipped point predicted by constants fitted without its circuit (5 folds)."""
    return fitting.cross_validate(POINTS, folds=5)


def test_held_out_predictions_meet_the_targets(held_out):
    assert len(held_out) == len(POINTS)
    for row in held_out:
        assert abs(row["pk_bytes"][2]) <= HELD_OUT_MAX["pk_bytes"], row
        assert abs(row["setup_peak_rss_bytes"][2]) <= HELD_OUT_MAX["setup_peak_rss_bytes"], row
        assert abs(row["prove_peak_rss_bytes"][2]) <= HELD_OUT_MAX["prove_peak_rss_bytes"], row
        assert row["prove_seconds"][0] > 0


def test_fitted_on_small_circuits_it_predicts_the_largest(tmp_path):
    rows = fitting.extrapolate(POINTS, fit_max_logrows=15)
    assert rows and min(r["logrows"] for r in rows) >= 16
    for row in rows:
        assert abs(row["pk_bytes"][2]) <= HELD_OUT_MAX["pk_bytes"], row
        assert abs(row["prove_peak_rss_bytes"][2]) <= HELD_OUT_MAX["prove_peak_rss_bytes"], row


def test_the_cv_report_has_one_row_per_logrows_range(capsys):
    assert zkbench(["predict", "check", "--cv", "5"]) == 0
    out = capsys.readouterr().out
    assert "| 0-12 |" in out and "| 15-17 |" in out and "fitted on logrows <= 15" in out


@pytest.mark.parametrize("point", POINTS, ids=ids(POINTS))
def test_column_model_reproduces_the_key_layout_exactly(point):
    """The verifying key's size is fixed by the column counts and selectors alone: an exact check of columns()."""
    cols = layout.columns(point["settings"])
    assert cols["vk_bytes"] == point["measured"]["vk_bytes"]
    assert cols["pk_struct_bytes"] == point["measured"]["pk_bytes"]


def test_shipped_constants_equal_a_refit_of_the_shipped_points():
    refit = fitting.fit_points(POINTS)
    assert set(refit) == set(CONSTANTS)
    for name, value in CONSTANTS.items():
        assert refit[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_fit_reads_results_and_cached_settings(tmp_path):
    """fit(results_dirs, cache_dirs) rebuilds points from result files + circuit/<key>/settings.json."""
    res, cache = tmp_path / "results", tmp_path / "cache"
    chosen = POINTS[:6]
    for i, p in enumerate(chosen):
        key = f"key{i}"
        (cache / "circuit" / key).mkdir(parents=True)
        (cache / "circuit" / key / "settings.json").write_text(json.dumps(p["settings"]))
        m = p["measured"]
        result = {
            "id": p["id"],
            "status": "ok",
            "cache_keys": {"circuit": key},
            "config": {"threads": p["threads"]},
            "sizes": {"pk_bytes": m["pk_bytes"], "vk_bytes": m["vk_bytes"]},
            "stages": {
                "setup": {"seconds": [1.0], "peak_rss_bytes": m["setup_peak_rss_bytes"]},
                "prove": {"seconds": m["prove_seconds_all"], "peak_rss_bytes": m["prove_peak_rss_bytes"]},
            },
        }
        (res / "g").mkdir(parents=True, exist_ok=True)
        (res / "g" / f"{p['id']}.json").write_text(json.dumps(result))
    (res / "g" / "failed.json").write_text(json.dumps({"id": "x", "status": "failed"}))
    out = fitting.fit([res], [tmp_path / "missing", cache])
    assert sorted(ids(out["points"])) == sorted(ids(chosen))
    for got in out["points"]:
        want = next(p for p in chosen if p["id"] == got["id"])
        assert got["settings"] == want["settings"]
        assert got["measured"]["prove_seconds"] == want["measured"]["prove_seconds"]
    assert out["constants"] == fitting.fit_points(out["points"])


def grid(point):
    base = copy.deepcopy(point["settings"])
    for k in range(base["run_args"]["logrows"], 25):
        s = copy.deepcopy(base)
        s["run_args"]["logrows"] = k
        yield k, model.predict(s)


@pytest.mark.parametrize("point", POINTS[::7], ids=ids(POINTS[::7]))
def test_prediction_is_monotone_in_logrows(point):
    prev = None
    for _k, pred in grid(point):
        if prev:
            assert pred["pk_bytes"] > 1.9 * prev["pk_bytes"]
            for key in ("setup_peak_rss_bytes", "prove_peak_rss_bytes", "prove_seconds"):
                assert pred[key] > prev[key], key
        prev = pred


def test_extrapolates_like_the_paper_numbers():
    """A plain layer at paper size keeps the ratios measured at k = 17: setup ~1.2x pk, prove ~2.55x pk."""
    plain = next(
        p
        for p in POINTS
        if not p["settings"].get("required_lookups")
        and not p["settings"].get("num_shuffles")
        and len(p["settings"]["required_range_checks"]) == 2
    )
    s = copy.deepcopy(plain["settings"])
    s["run_args"]["logrows"] = 22
    pred = model.predict(s)
    assert pred["pk_bytes"] == pytest.approx(32 * 2**22 * (3 * 8 + 10 * 31), rel=0.01)  # F + P = 31, e = 8
    assert 1.1 < pred["setup_peak_rss_bytes"] / pred["pk_bytes"] < 1.3
    assert 2.2 < pred["prove_peak_rss_bytes"] / pred["pk_bytes"] < 3.0


def test_default_ezkl_layout_matches_the_known_key_size():
    """ezkl defaults (2 inner columns, decomposition base 16384): ~4.2 KB * 2^k, 138 MB at k = 15."""
    s = {
        "run_args": {
            "logrows": 15,
            "num_inner_cols": 2,
            "lookup_range": [0, 0],
            "input_visibility": "Public",
            "output_visibility": "Public",
            "param_visibility": "Fixed",
        },
        "num_rows": 1000,
        "total_assignments": 2000,
        "total_const_size": 10,
        "required_lookups": [],
        "required_range_checks": [[0, 16383], [-1, 1]],
        "model_instance_shapes": [[1, 64], [1, 64]],
    }
    cols = layout.columns(s)
    assert (cols["extension"], cols["degree"]) == (4, 5)
    assert cols["pk_struct_bytes"] == pytest.approx(138e6, rel=0.01)


def test_columns_grow_with_lookups_tables_and_blocks():
    s = copy.deepcopy(next(p for p in POINTS if p["id"].startswith("ReLU"))["settings"])
    base = layout.columns(s)
    s2 = copy.deepcopy(s)
    s2["required_lookups"] = [{"Tanh": {"scale": 64.0}}]
    s2["run_args"]["lookup_range"] = [-400, 400]
    lk = layout.columns(s2)
    assert lk["fixed_columns"] == base["fixed_columns"] + 2 + base["num_inner_cols"]  # table in/out + selectors
    assert lk["lookup_arguments"] == base["lookup_arguments"] + base["num_inner_cols"]
    s3 = copy.deepcopy(s)
    s3["required_range_checks"] = s3["required_range_checks"] + [[0, 4 * 2 ** s["run_args"]["logrows"]]]
    wide = layout.columns(s3)  # a table 4x taller than a column spans 5 columns and raises the degree
    assert wide["table_columns"] == base["table_columns"] + 5 and wide["degree"] > base["degree"]
    s4 = copy.deepcopy(s)
    s4["total_assignments"] = 3 * base["num_inner_cols"] * 2 ** s["run_args"]["logrows"]
    assert layout.columns(s4)["blocks"] == 4 and layout.columns(s4)["advice_columns"] == 4 * base["advice_columns"]


def test_threads_shorten_time_not_memory():
    s = POINTS[0]["settings"]
    one, four = model.predict(s, threads=1), model.predict(s, threads=4)
    assert four["prove_seconds"] < one["prove_seconds"]
    assert four["prove_peak_rss_bytes"] == one["prove_peak_rss_bytes"]
    assert 0 <= CONSTANTS["parallel_fraction"] < 1


def test_predict_is_pure():
    s = POINTS[0]["settings"]
    before = json.dumps(s, sort_keys=True)
    assert model.predict(s) == model.predict(s)
    assert json.dumps(s, sort_keys=True) == before


def test_check_cli_prints_table_and_summary(capsys):
    rc = zkbench(["predict", "check"])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.count("\n| ") >= len(POINTS)
    line = next(x for x in out.splitlines() if x.startswith("max |error|"))
    worst = {
        label: float(v)
        for label, v in (
            (part.rsplit(" ", 1)[0].strip(), part.rsplit(" ", 1)[1].rstrip("%"))
            for part in line.split(": ", 1)[1].split(" (")[0].split(", ")
        )
    }
    assert worst["pk"] <= 10 and worst["setup RSS"] <= 25 and worst["prove RSS"] <= 25
    assert math.isfinite(worst["prove time"])


def test_check_fails_when_the_constants_are_wrong(tmp_path, capsys):
    bad = copy.deepcopy(DATA)
    bad["constants"]["prove_per_pk"] *= 2
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert zkbench(["predict", "check", "--data", str(path)]) == 1
    capsys.readouterr()


def test_constants_are_per_backend():
    settings = POINTS[0]["settings"]
    assert model.predict(settings, backend="ezkl-23") == model.predict(settings)
    with pytest.raises(ValueError, match="no fitted prediction for backend 'ezkl-gpu-16': known ones are ezkl-23"):
        model.predict(settings, backend="ezkl-gpu-16")


def test_provenance_commands_are_current_zkbench_commands():
    """The data file's provenance reruns as written: its `zkbench predict` commands use today's full flag names."""
    provenance = DATA["provenance"]
    commands = [*provenance["measured_by"], provenance["fitted_by"]]
    assert not [c for c in commands if "python -m fixtures" in c]
    ours = [shlex.split(c)[2:] for c in commands if c.startswith("zkbench predict ")]
    assert [argv[0] for argv in ours] == ["measure", "fit"]
    ap = argparse.ArgumentParser()
    predict_tool.add_arguments(ap)
    subcommands = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction)).choices
    for argv in ours:
        ap.parse_args(argv)
        flags = {s for action in subcommands[argv[0]]._actions for s in action.option_strings}
        assert {t for t in argv if t.startswith("--")} <= flags, argv  # argparse would accept an abbreviation


def overflow_case(logrows: int, instances: int, ranges, committed=()) -> dict:
    return {
        "run_args": {"logrows": logrows, "num_inner_cols": 2, "lookup_range": [0, 0]},
        "num_rows": 2 ** (logrows - 1),
        "total_assignments": 2**logrows,
        "model_instance_shapes": [[instances]] if instances else [],
        "module_sizes": {"polycommit": list(committed), "poseidon": [0, [0]]},
        "required_lookups": [],
        "required_range_checks": [list(r) for r in ranges],
    }


def test_col_overflow_lays_a_circuit_out_at_what_its_public_values_and_tables_need():
    """The floors seen in ezkl 23.0.5's col-overflow calibration (tests/integration/test_memory_fit.py
    checks them against ezkl): public values (a paper Conv tile: 35904 + 256 -> 16), a committed tensor,
    a range check's range (decomposition 1024: 10), never above the rows' own logrows."""
    from zkbench.resources.predict.layout import overflow_logrows

    assert overflow_logrows(overflow_case(19, 36160, [(-1, 1), (0, 1023)])) == 16
    assert overflow_logrows(overflow_case(13, 192, [(-1, 1), (0, 1023)])) == 10
    assert overflow_logrows(overflow_case(18, 0, [(0, 16383)])) == 14
    assert overflow_logrows(overflow_case(19, 0, [(0, 1023)], committed=[40000])) == 16
    assert overflow_logrows(overflow_case(9, 36160, [(0, 1023)])) == 9  # the rows need less: no lower


def test_a_circuit_laid_out_lower_spills_its_rows_into_more_columns():
    from zkbench.resources.predict.layout import at_logrows, columns

    s = overflow_case(19, 36160, [(-1, 1), (0, 1023)])
    rows, spilled = columns(s), columns(at_logrows(s, 16))
    assert spilled["logrows"] == 16 and spilled["advice_columns"] >= 4 * rows["advice_columns"]  # 6 -> 30
