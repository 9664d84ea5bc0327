"""Parent side: a stage's record in the result document, from the stage children's replies (time, CPU
time, peak RSS as base + growth), and the same record read back from the cache (`cached`).
Imports nothing of the engine: every step module records its stages with it."""

from __future__ import annotations

import datetime as dt


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def measured(reply: dict, *more: dict) -> dict:
    """A stage record from one or more worker replies (repeated rounds, each in a fresh child).
    peak = base (the child before the call) + growth (what the call added at its high point),
    both from the round with the highest peak."""
    replies = (reply, *more)
    top = max(replies, key=lambda r: r["peak_rss_bytes"])
    seconds = [r["seconds"] for r in replies]
    return {
        "seconds": seconds,
        # max - min over the rounds; one round says nothing of the spread: unknown (None), never 0
        "spread_s": max(seconds) - min(seconds) if len(seconds) > 1 else None,
        "cpu_seconds": [r.get("cpu_seconds") for r in replies],
        "peak_rss_bytes": top["peak_rss_bytes"],
        "base_rss_bytes": top["base_rss_bytes"],
        "growth_rss_bytes": top["peak_rss_bytes"] - top["base_rss_bytes"],
        "rss_method": reply["rss_method"],
        "cached": False,
        "measured_at": now(),
    }


def from_cache(stage_record: dict, built_now: bool) -> dict:
    return {**stage_record, "cached": not built_now}
