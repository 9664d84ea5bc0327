"""Torch modules the registry builds: single layers and the four small CNNs."""

from __future__ import annotations

import torch
from torch import nn


class Square(nn.Module):
    """The degree-2 polynomial activation x**2 (written as x*x: a plain Mul in ONNX)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


ACTIVATIONS = {"relu": nn.ReLU, "poly": Square}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def small_cnn(
    in_ch: int, hw: int, c1: int, c2: int, acts: tuple[str, str], pool: str | None, stride: int = 1, classes: int = 10
) -> nn.Sequential:
    """Conv-act-[pool]-Conv-act-[pool]-Flatten-Linear, as in experiments.md.

    With pool=None the convolutions use `stride` instead (CNN_Strided)."""
    layers: list[nn.Module] = []
    size = hw
    for i, (cin, cout) in enumerate([(in_ch, c1), (c1, c2)]):
        s = 1 if pool else stride
        layers += [nn.Conv2d(cin, cout, 3, stride=s, padding=1), ACTIVATIONS[acts[i]]()]
        size = (size + 2 - 3) // s + 1
        if pool:
            layers.append(POOLS[pool](2))
            size //= 2
    layers += [nn.Flatten(), nn.Linear(c2 * size * size, classes)]
    return nn.Sequential(*layers)
