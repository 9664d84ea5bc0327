"""`zkbench list`: the experiments of the registry, one line per layer configuration."""

from __future__ import annotations

import argparse

from zkbench.layers import SPECS

HELP = "list the experiments of the registry"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    for s in SPECS:
        tags = ",".join(sorted(s.tags))
        print(f"{s.group:14} {s.name:22} smoke {s.smoke.input_shape} paper {s.paper.input_shape} {tags}")
    return 0
