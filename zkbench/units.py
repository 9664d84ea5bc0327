"""Byte sizes, the one way the suite prints and parses them: 1.5 GiB, "24G"."""

from __future__ import annotations

import decimal
import re

_UNIT_NAMES = ("B", "KiB", "MiB", "GiB", "TiB")
# All prefixes are binary, as in `java -Xmx24G` or `docker --memory 24g`: 1G == 1GB == 1GiB.
_MULTIPLIERS = {"": 1, "b": 1} | {
    alias: 1024**power
    for power, prefix in enumerate("kmgt", start=1)
    for alias in (prefix, prefix + "b", prefix + "ib")
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)


def human_bytes(n: int) -> str:
    """1.5 * 2**30 -> "1.5 GiB"; below 1 KiB, whole bytes ("512 B")."""
    value = float(n)
    for unit in _UNIT_NAMES[:-1]:
        if abs(value) < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNIT_NAMES[-1]}"


def parse_memory(text: str) -> int:
    """ "24G", "512M", "1.5GiB", "1000000" -> bytes (prefixes are binary)."""
    match = _SIZE.fullmatch(str(text))
    multiplier = _MULTIPLIERS.get(match.group(2).lower()) if match else None
    if match is None or multiplier is None:
        raise ValueError(
            f"invalid memory size {text!r}: expected a number with an optional "
            f"unit K, M, G or T (e.g. 24G, 512M, 1.5GiB, 1000000)"
        )
    n_bytes = int(decimal.Decimal(match.group(1)) * multiplier)  # exact, unlike float
    if n_bytes <= 0:
        raise ValueError(f"invalid memory size {text!r}: must be at least 1 byte")
    return n_bytes


def human_seconds(seconds: float) -> str:
    """3.2 s, 4.5 min, 2.3 h."""
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"
