"""LayerNorm over the whole sample, whose statistics span every value, as two rounds of parts that
together compute exactly the layer (the float model; each part is then its own ezkl circuit):

    statistics   k chunks of the flattened input, each -> [mean, mean of squares] of its chunk
    normalise    n chunks of the flattened input, each with all k chunks' statistics -> its chunk
                 of the output: (x - mu) / sqrt(var + eps) * weight + bias, where mu is the mean of
                 the chunk means and var the mean of the mean squares less mu squared

The chunks are equal (k and n divide the sample's size), so the mean of the chunk means is the
sample's mean, value for value. Normalising costs ezkl ~10x the rows per value that the statistics
do (ezkl 23, 2 inner columns: 63 against 6.5 rows per value), so a split of n normalising parts
takes n / STATS_RATIO statistics parts (at least 1): every part about the same size or smaller.

zkbench.engine.norm_split_step runs the parts and links them: each part's public inputs are its
chunk of the layer's input and, for a normalising part, exactly the statistics the statistics
parts' proofs output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

STATS_RATIO = 8  # normalising parts per statistics part
NORM_SPLIT_VERSION = 1  # bump when a part's meaning changes: its models are other models


@dataclass(frozen=True)
class NormSplit:
    input_shape: tuple[int, ...]
    values: int  # per sample: the product of the normalized shape
    stats_parts: int
    norm_parts: int

    @property
    def parts(self) -> int:
        return self.stats_parts + self.norm_parts

    def stats_chunk(self, i: int) -> tuple[int, int]:
        size = self.values // self.stats_parts
        return i * size, (i + 1) * size

    def norm_chunk(self, j: int) -> tuple[int, int]:
        size = self.values // self.norm_parts
        return j * size, (j + 1) * size

    @property
    def how(self) -> str:
        return (
            f"statistics of {self.stats_parts} chunk{'s' * (self.stats_parts > 1)}, then "
            f"{self.norm_parts} normalised chunks (of {self.values // self.norm_parts} values each)"
        )


def check_layer(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The values per sample a LayerNorm normalises over; ValueError (one line) when it is not a
    LayerNorm over everything but a batch of one."""
    if not isinstance(module, nn.LayerNorm):
        raise ValueError(f"{type(module).__name__} is not a LayerNorm")
    shape = tuple(input_shape)
    if len(shape) < 2 or shape[0] != 1 or tuple(module.normalized_shape) != shape[1:]:
        raise ValueError(
            f"a LayerNorm over {list(module.normalized_shape)} of inputs {list(shape)}: only one over the "
            "whole of a batch of one is decomposed (a LayerNorm over trailing axes only would tile instead)"
        )
    return math.prod(shape[1:])


def counts(module: nn.Module, input_shape: tuple[int, ...]) -> list[int]:
    """The normalising part counts a split may use: 2, 4, 8, ... while they divide the values."""
    values = check_layer(module, input_shape)
    out, n = [], 2
    while values % n == 0 and n <= values:
        out.append(n)
        n *= 2
    return out


def norm_split(module: nn.Module, input_shape: tuple[int, ...], n: int) -> NormSplit:
    """The layer as n normalising parts (and their statistics parts); ValueError, one line, when n
    does not divide the values or is below 2."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"a LayerNorm split needs 2 normalising parts or more, got {n!r}")
    values = check_layer(module, input_shape)
    if values % n:
        allowed = ", ".join(map(str, counts(module, input_shape)[:8]))
        raise ValueError(f"{n} parts do not divide its {values} values into equal chunks: use one of {allowed}, ...")
    k = max(1, n // STATS_RATIO)
    while values % k:  # n divides the values; a divisor of n below it that also does
        k -= 1
    return NormSplit(tuple(input_shape), values, k, n)


class ChunkStats(nn.Module):
    """A chunk's statistics: [[mean, mean of squares]]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean(), (x * x).mean()]).reshape(1, 2)


class ChunkNorm(nn.Module):
    """A chunk of the output from its chunk of the input and every chunk's statistics ([1, 2k]:
    mean and mean of squares of chunk 1, then of chunk 2, ...)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, eps: float, stats_parts: int):
        super().__init__()
        self.weight, self.bias = nn.Parameter(weight.clone()), nn.Parameter(bias.clone())
        self.eps, self.k = eps, stats_parts

    def forward(self, x: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        per_chunk = stats.reshape(1, self.k, 2)
        mu = per_chunk[:, :, 0].mean(1, keepdim=True)
        var = per_chunk[:, :, 1].mean(1, keepdim=True) - mu * mu
        return (x - mu) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(1, -1)


def stats_input(x: torch.Tensor, s: NormSplit, i: int) -> torch.Tensor:
    lo, hi = s.stats_chunk(i)
    return flat(x)[:, lo:hi].contiguous()


def norm_input(x: torch.Tensor, s: NormSplit, j: int) -> torch.Tensor:
    lo, hi = s.norm_chunk(j)
    return flat(x)[:, lo:hi].contiguous()


def norm_module(module: nn.LayerNorm, s: NormSplit, j: int) -> ChunkNorm:
    """Normalising part j, carrying its chunk of the layer's weight and bias (1 and 0 without them)."""
    lo, hi = s.norm_chunk(j)
    ones = torch.ones(s.values)
    weight = module.weight.detach().reshape(-1) if module.weight is not None else ones
    bias = module.bias.detach().reshape(-1) if module.bias is not None else torch.zeros(s.values)
    return ChunkNorm(weight[lo:hi].reshape(1, -1), bias[lo:hi].reshape(1, -1), module.eps, s.stats_parts).eval()


def statistics(x: torch.Tensor, s: NormSplit) -> torch.Tensor:
    """Every statistics part's float outputs, as a normalising part reads them ([1, 2k])."""
    with torch.no_grad():
        return torch.cat([ChunkStats()(stats_input(x, s, i)) for i in range(s.stats_parts)], dim=1)


def reassemble(outputs: list[torch.Tensor], s: NormSplit) -> torch.Tensor:
    """The layer's output from the normalising parts' outputs, in order."""
    return torch.cat([flat(y) for y in outputs], dim=1).reshape(s.input_shape)
