"""The search's grid and scans: what a run may set (RunConfig, the run options) without importing the search."""

DEFAULT_SCALES = tuple(range(1, 17))
# (decomp_base, decomp_legs): ezkl's default, and two with smaller range-check tables.
DEFAULT_DECOMPOSITIONS = ((16384, 2), (1024, 3), (128, 4))
# Columns per row: ezkl's default 2, and 4 (half the rows, so the lookup table can decide logrows).
DEFAULT_INNER_COLS = (2, 4)
# bisect: the default; exhaustive: every scale upwards (what CI checks the default's choices against)
SCANS = ("bisect", "exhaustive")
DEFAULT_SCAN = "bisect"
