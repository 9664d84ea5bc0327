"""--split auto for a LayerNorm (zkbench.engine.norm_split_step): how many normalising parts the
memory budget demands, decided by the predictor before any setup.

A small LayerNorm (at most PROBE_VALUES values) runs whole first, admitted by the budget, as any
model does (graph_choice.run_auto_graph). A larger one is not run whole (its search alone would
evaluate the whole circuit: the paper's is ~7.4 M rows): its basis is the scale probe of the fewest
normalising parts of at most PROBE_VALUES values each, the search the split itself runs first (and
caches). For each count n = 2, 4, 8, ... the normalising part's circuit is the basis scaled to 1/n of
the layer (split_choice.scaled_settings), and predicted; the fewest parts predicted to fit win. The
normalising part is the largest: a statistics part holds STATS_RATIO times its values at about a
tenth of the rows per value. Plan mode weighs the same ladder from the whole's gen_settings.
"""

from __future__ import annotations

from collections.abc import Callable

from zkbench.engine.split_choice import Rung, scaled_settings, weigh
from zkbench.layers import LayerSpec
from zkbench.layers.norm_split import check_layer, counts
from zkbench.units import human_bytes

HOW = "statistics, then normalised chunks"
PROBE_VALUES = 2**12  # a normalising part this small (~260 k rows) searches in minutes on 2 cores


def values_of(spec: LayerSpec, profile: str) -> int:
    return check_layer(spec.module(profile), spec.shape(profile).input_shape)


def probe_count(spec: LayerSpec, profile: str) -> int:
    """The fewest normalising parts of at most PROBE_VALUES values each (the most there are, else)."""
    values, allowed = values_of(spec, profile), counts(spec.module(profile), spec.shape(profile).input_shape)
    return next((n for n in allowed if values // n <= PROBE_VALUES), allowed[-1])


def too_big_to_run_whole(spec: LayerSpec, profile: str) -> str | None:
    """Why auto does not run this LayerNorm whole first (None: it does)."""
    values = values_of(spec, profile)
    if values <= PROBE_VALUES:
        return None
    return f"its {values} values are over {PROBE_VALUES}: its search alone would evaluate the whole circuit"


def norm_ladder(
    spec: LayerSpec,
    profile: str,
    basis: dict,
    basis_parts: int,
    predict: Callable[[dict], dict],
    budget_bytes: int,
    start: int = 2,
) -> tuple[int | None, list[Rung], str]:
    """The fewest normalising parts (>= start) predicted to fit, every rung weighed, and why none
    fits ("" when one does). `basis`: the settings of one normalising part of `basis_parts` (1: the
    whole layer's)."""
    values = values_of(spec, profile)
    allowed = [n for n in counts(spec.module(profile), spec.shape(profile).input_shape) if n >= start]
    if not allowed:
        return None, [], f"no more parts that divide its {values} values"
    rungs = []
    for n in allowed:
        s = basis if n == basis_parts else scaled_settings(basis, basis_parts / n)
        rungs.append(
            weigh(n, s, predict, budget_bytes, why=f"largest part: a normalised chunk of {values // n} values")
        )
        if rungs[-1].fits:
            return n, rungs, ""
    last = rungs[-1]
    return (
        None,
        rungs,
        f"even {last.parts} normalising parts (its most) need ~{human_bytes(last.peak_rss_bytes)} at logrows "
        f"{last.logrows} each, above the {human_bytes(budget_bytes)} budget",
    )
