"""Parent side: the memory-aware choice of a circuit. The tolerance search picks the cheapest circuit
that meets the tolerance (least logrows, then rows); under a memory budget that circuit may not fit,
where the same circuit laid out otherwise would: ezkl trades height for width. So when the search's
choice is predicted over the budget, the same candidate (its scale and decomposition) is laid out
again, before any key, at every inner column count of the grid and each in two ways:

- `rows`: calibrate_settings' target "resources": logrows what the rows (and lookup tables) need;
- `col-overflow`: any logrows from what ezkl's "resources/col-overflow" calibration lays it out at (what
  its public values, committed tensors and lookup ranges need) up to the rows', the rows spilled into
  more advice columns: the two calibrations differ in logrows alone. The lowest is not always the
  least memory: thousands of columns cost memory of their own.

Each layout's setup and prove peaks are predicted (zkbench.resources.predict, which replays ezkl's
column layout from the settings) and, of those that fit the budget, the one predicted to prove
fastest is built (split_choice.fastest_fitting: its settings and calibrate stages measured as the
search's choice's are, then laid out at its logrows). The search's assumption that the error depends
on the scale only (zkbench.engine.search.algorithm) is what makes another layout of a passing
candidate pass too; the accuracy stage measures it on the
held-out inputs, as for every circuit. None fitting leaves the search's choice, which admission then
skips (and --split auto splits). The result's `search.memory` says what was weighed and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from zkbench.engine.search.candidate import Candidate, fixed_run_args
from zkbench.engine.split_choice import fastest_fitting, spilled
from zkbench.engine.stage_records import from_cache, measured
from zkbench.engine.stage_worker import StageFailed
from zkbench.files import content_key, sha256_file
from zkbench.resources.predict.layout import at_logrows

LAYOUTS = {"rows": "resources", "col-overflow": "resources/col-overflow"}
RULE = (
    "the search's circuit when its predicted peak fits the budget; else, of its layouts (inner columns x "
    "rows or col-overflow) predicted to fit, the one predicted to prove fastest"
)
DOMAIN_RULE = (
    "; a graph split's part, at the logrows its parts commit over when a layout fits there (else the "
    "split lays every part out again at the larger logrows it needs)"
)


def fit(exp, wl: dict, found: dict, budget: int | None, predict: Callable[[dict], dict]) -> dict:
    """The search entry the experiment goes on with: `found` (the search's) unless it is predicted over
    `budget` and another layout of its candidate is predicted to fit (then an entry whose settings.json
    is that layout's). Records `search.memory` whenever there is a budget to fit."""
    search = exp.r["search"]
    if not budget or search.get("chosen") is None or "scale" not in search["candidates"][search["chosen"]]:
        return found  # no budget, or ezkl's own circuit (no candidate of the grid to lay out again)
    settings = json.loads((Path(found["dir"]) / "settings.json").read_text())
    domain = exp.cfg.commit_logrows  # a graph split's part: the logrows its parts commit over so far
    k = int(settings["run_args"]["logrows"])
    if domain and k < domain:  # it will be laid out at the domain (raised at compile): weighed there
        settings = at_logrows(settings, domain)
    try:
        own = predict(settings)
    except (OSError, KeyError, ValueError):  # no fitted prediction for this backend: nothing to weigh
        return found
    chosen = search["candidates"][search["chosen"]]
    record = {
        "budget_bytes": budget,
        "rule": RULE + (DOMAIN_RULE if domain else ""),
        "search_choice": {
            **layout_record(chosen["num_inner_cols"], "rows", settings, own, budget),
            **({"raised_from_logrows": k} if domain and k < domain else {}),
        },
        **({"domain_logrows": domain} if domain else {}),
    }
    if own["peak_rss_bytes"] <= budget and (not domain or k <= domain):
        search["memory"] = {**record, "chosen": "the search's", "why": "its predicted peak fits the budget"}
        return found
    key = content_key(
        "memory-fit",
        exp.r["cache_keys"]["search"],
        budget,
        sorted(exp.cfg.inner_cols),
        sha256_file(prediction_data(exp.cfg.backend)),
        domain,
    )
    m, built = exp.cache.get_or_build(
        "memory-fit", key, lambda tmp: build(exp, wl, chosen, tmp, budget, predict, domain)
    )
    meta = m["meta"]
    search["memory"] = {
        **record,
        "layouts": meta["layouts"],
        "weighed": {**from_cache(meta["weighed"], built)},
        "chosen": meta["chosen"],
        "why": meta["why"],
        "assumes": "another layout of the search's passing candidate meets the tolerance as well (the error "
        "depends on the scale only); measured on the held-out inputs by the accuracy stage",
    }
    exp.r["cache_keys"]["memory_fit"] = key
    if meta["chosen"] is None:
        return found
    exp.stages["settings"] = from_cache(meta["settings"], built)
    exp.stages["calibrate"] = from_cache(meta["calibrate"], built)
    return m


def choose(laid: list[tuple[dict, dict]], budget: int, domain: int | None) -> int | None:
    """Which of the weighed layouts is built: fastest_fitting's; under a split's domain, of those at the
    domain when one fits there, else of those above it (the split lays every part out again there):
    one below it would be raised to the domain, where it was weighed as its rows raised."""
    if not laid:
        return None
    if domain:
        for pick in (lambda k: k == domain, lambda k: k > domain):
            idx = [j for j, (s, _) in enumerate(laid) if pick(int(s["run_args"]["logrows"]))]
            if any(laid[j][1]["peak_rss_bytes"] <= budget for j in idx):
                return idx[fastest_fitting([laid[j] for j in idx], budget)]
    return fastest_fitting(laid, budget)


def prediction_data(backend: str) -> Path:
    from zkbench.resources.predict.model import data_path

    return data_path(backend)


def layout_record(cols: int, layout: str, settings: dict, p: dict, budget: int) -> dict:
    return {
        "num_inner_cols": cols,
        "layout": layout,
        "logrows": settings["run_args"]["logrows"],
        "num_rows": settings["num_rows"],
        "advice_columns": p.get("advice_columns"),
        "predicted_peak_rss_bytes": p["peak_rss_bytes"],
        "predicted_prove_seconds": p["prove_seconds"],
        "fits": p["peak_rss_bytes"] <= budget,
    }


def build(
    exp, wl: dict, chosen: dict, tmp: Path, budget: int, predict: Callable[[dict], dict], domain: int | None = None
) -> dict:
    """The memory-fit entry: for each column count, the candidate's rows settings and ezkl's col-overflow
    floor made in one child (measured as `weighed`), every logrows from the floor to the rows' own
    predicted; fastest_fitting's made again into tmp/settings.json by the settings and calibrate
    stages, at its logrows."""
    d = Path(wl["dir"])
    layouts: list[dict] = []
    for cols in sorted(exp.cfg.inner_cols):
        cand = Candidate(chosen["scale"], chosen["decomp_base"], chosen["decomp_legs"], cols)
        for layout, target in LAYOUTS.items():
            layouts.append(
                {
                    "name": f"{cand.stem}-{layout}",
                    "cols": cols,
                    "layout": layout,
                    "run_args": cand.run_args(fixed_run_args(d)),
                    "scale": cand.scale,
                    "target": target,
                }
            )
    made = tmp / "layouts"
    made.mkdir()
    [rep] = exp.stage(
        "search",
        op="layouts",
        onnx=str(d / "network.onnx"),
        data=str(d / "calibration.json"),
        out_dir=str(made),
        layouts=layouts,
    )
    weighed: list[dict] = []
    laid: list[tuple[dict, dict]] = []  # every layout weighed: (settings, prediction)
    made_by: list[dict] = []  # the rows layout each was spilled from (its run args remade it)
    for cols in sorted(exp.cfg.inner_cols):
        rows_lay, over_lay = (next(x for x in layouts if x["cols"] == cols and x["layout"] == n) for n in LAYOUTS)
        rows_got, over_got = rep["result"][rows_lay["name"]], rep["result"][over_lay["name"]]
        if "error" in rows_got:
            weighed.append({"num_inner_cols": cols, "layout": "rows", "error": rows_got["error"]})
            continue
        settings = json.loads(Path(rows_got["settings"]).read_text())
        k = int(settings["run_args"]["logrows"])
        floor = (
            k if "error" in over_got else int(json.loads(Path(over_got["settings"]).read_text())["run_args"]["logrows"])
        )
        raised = [at_logrows(settings, domain)] if domain and domain > k else []  # its rows, at the domain
        for s in spilled(settings, floor) + raised:
            p = predict(s)
            rec = layout_record(cols, "col-overflow" if s["run_args"]["logrows"] < k else "rows", s, p, budget)
            weighed.append({**rec, "col_overflow_floor": floor})
            laid.append((s, p))
            made_by.append({**rows_lay, "record": weighed[-1]})
    i = choose(laid, budget, domain)
    best = (made_by[i]["record"], made_by[i]) if i is not None and laid[i][1]["peak_rss_bytes"] <= budget else None
    for f in made.iterdir():
        f.unlink()
    made.rmdir()
    meta: dict = {"layouts": weighed, "weighed": measured(rep)}
    if best is None:
        smallest = min(
            (w for w in weighed if "error" not in w), key=lambda w: w["predicted_peak_rss_bytes"], default=None
        )
        meta["chosen"] = None
        meta["why"] = "no layout is predicted to fit" + (
            f": the smallest, {smallest['num_inner_cols']} columns {smallest['layout']} at logrows "
            f"{smallest['logrows']}, needs {smallest['predicted_peak_rss_bytes']} B"
            if smallest
            else ""
        )
        return meta
    rec, lay = best
    settings_path = tmp / "settings.json"
    [gen] = exp.stage(
        "settings",
        op="gen_settings",
        onnx=str(d / "network.onnx"),
        settings=str(settings_path),
        run_args=lay["run_args"],
    )
    [cal] = exp.stage(
        "calibrate",
        data=str(d / "calibration.json"),
        onnx=str(d / "network.onnx"),
        settings=str(settings_path),
        scales=[lay["scale"]],
        scale_rebase_multiplier=[1],
    )
    remade = json.loads(settings_path.read_text())
    weighed_rows = next(w for w in weighed if w["num_inner_cols"] == rec["num_inner_cols"] and w["layout"] == "rows")
    if (remade["run_args"]["logrows"], remade["num_rows"]) != (weighed_rows["logrows"], weighed_rows["num_rows"]):
        raise StageFailed(  # what is built must be what was weighed
            "calibrate",
            "not_reproducible",
            f"{rec['num_inner_cols']} columns: logrows {remade['run_args']['logrows']}, {remade['num_rows']} rows "
            f"made again, {weighed_rows['logrows']}, {weighed_rows['num_rows']} weighed",
        )
    settings_path.write_text(json.dumps(at_logrows(remade, rec["logrows"])))
    meta.update(
        chosen={k: rec[k] for k in ("num_inner_cols", "layout", "logrows")},
        why=(
            f"the search's circuit is not laid out within the budget at the split's domain (logrows {domain})"
            if domain
            else "the search's circuit is predicted over the budget"
        )
        + f"; {rec['num_inner_cols']} columns, {rec['layout']}, at logrows {rec['logrows']} is predicted to fit and "
        f"to prove fastest of those that do" + (" there" if rec["logrows"] == domain else ""),
        settings=measured(gen),
        calibrate=measured(cal),
    )
    return meta
