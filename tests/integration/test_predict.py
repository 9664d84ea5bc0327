"""zkbench.resources.predict: pk / peak-RSS / time prediction from settings.json, against the shipped measured points."""

from zkbench.resources.predict import fitting, model
from zkbench.tools.predict.measure import measure


# builds and proves real circuits
def test_measure_writes_points_that_fit_reads(tmp_path):
    """A tiny variant of `measure`: Dense built at logrows 12 instead of the 11 its search picks."""
    res, cache = tmp_path / "results", tmp_path / "cache"
    written = measure(res, cache, points=(("Dense", 2.0, 12, 1),))
    assert [p.parent.name for p in written] == ["k12-t1"]
    [point] = fitting.load_points(res, cache)
    assert point["settings"]["run_args"]["logrows"] == 12 and point["threads"] == 1
    assert point["measured"]["prove_growth_rss_bytes"] > 0
    assert model.predict(point["settings"])["pk_bytes"] == point["measured"]["pk_bytes"]
