"""How one layer splits into parts that together compute exactly the whole layer: tiles of its
output, each a smaller module of the same op with the whole layer's own weights (a slice of them),
reading the part of the input its outputs depend on. Concatenated in place, the tiles' outputs are
the layer's output, value for value (the float model; each tile is then its own ezkl circuit).

What a layer tiles along follows from its torch module:

    elementwise (ReLU, SiLU, Tanh, x*x)   channels (or the first axis), then rows; input sliced alike
    MaxPool2d / AvgPool2d                 channels, then output rows; input rows with the window
    BatchNorm2d (eval)                    channels, then rows; its statistics sliced per channel
    Linear                                output features; every tile reads the whole input
    Conv2d                                output channels, then output rows; the input zero-padded
                                          once, every tile reading the rows under its window (halo)
    depthwise Conv2d (groups = channels)  channels, then output rows; input channels sliced too

LayerNorm (statistics over the whole tensor) and multi-layer models have no output tile that is the
same op on part of the input: tiling() refuses them with a one-line reason (they split along the
graph instead).

A tile runs as an experiment of its own: PartSpec is the spec of part k of n ("Dense~part2of4"),
which spec_named() rebuilds from its name (the engine's children receive names) and whose workload
(zkbench.layers.workload) is the whole layer's, tiled.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from zkbench.layers.modules import Square
from zkbench.layers.registry import LayerSpec, Shape, get

ELEMENTWISE = (nn.ReLU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.GELU, Square)
SPLIT_VERSION = 1  # bump when a tile's meaning changes (its geometry, its weights): a part's workload key
PART_NAME = re.compile(r"^(?P<parent>.+)~part(?P<k>\d+)of(?P<n>\d+)$")


@dataclass(frozen=True)
class Tile:
    """One part: where its output goes in the whole output and what of the input it reads (both
    per axis, as (start, stop) pairs; the input's in the zero-padded input when the tiling pads)."""

    index: int
    out: tuple[tuple[int, int], ...]
    inp: tuple[tuple[int, int], ...]
    channels: tuple[int, int] | None = None  # the weights' output channels/features it keeps


@dataclass(frozen=True)
class Tiling:
    how: str  # in words, for the result: "output channels x output rows", ...
    kind: str  # elementwise | pool | batchnorm | linear | conv | depthwise
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    pad: tuple[int, int] | None  # zeros added to the input's last two axes (rows, columns) before slicing
    tiles: tuple[Tile, ...]

    @property
    def parts(self) -> int:
        return len(self.tiles)


def bounds(size: int, k: int) -> list[tuple[int, int]]:
    """`size` in k contiguous ranges as equal as can be."""
    return [(i * size // k, (i + 1) * size // k) for i in range(k)]


def grid(n: int, first: int, second: int) -> tuple[int, int]:
    """How many ranges along a first and a second axis make at least n parts: along the first axis
    only while it has room, then rows too (a x b >= n, the fewest parts past n)."""
    if n <= first:
        return n, 1
    b = min(second, math.ceil(n / first))
    return first, b


def kind_of(module: nn.Module) -> str:
    if isinstance(module, ELEMENTWISE):
        return "elementwise"
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        if _pair(module.padding) != (0, 0) or module.ceil_mode or _pair(getattr(module, "dilation", 1)) != (1, 1):
            raise ValueError(f"{type(module).__name__} with padding, ceil_mode or dilation: no tiling written for it")
        return "pool"
    if isinstance(module, nn.BatchNorm2d):
        return "batchnorm"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Conv2d):
        if _pair(module.dilation) != (1, 1) or module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ValueError("a Conv2d with dilation, non-zero or named padding: no tiling written for it")
        if module.groups == 1:
            return "conv"
        if module.groups == module.in_channels == module.out_channels:
            return "depthwise"
    if isinstance(module, nn.LayerNorm):
        raise ValueError("LayerNorm has no output tile of the same op: its statistics span the whole tensor")
    if isinstance(module, nn.Sequential):
        raise ValueError(f"a model of {len(module)} layers splits along its graph, not into tiles of one op")
    raise ValueError(f"{type(module).__name__} has no known split point")


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _window(module: nn.Module) -> tuple[int, int, int]:
    """(kernel, stride, padding) along rows of a pool or a convolution."""
    return _pair(module.kernel_size)[0], _pair(module.stride)[0], _pair(module.padding)[0]


def tiling(module: nn.Module, input_shape: tuple[int, ...], n: int) -> Tiling:
    """The whole layer as at least n tiles (exactly n while the first axis has room). ValueError,
    one line, when the layer has no split point or n is below 1 or above the tiles it has."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"a split needs 1 part or more, got {n!r}")
    kind = kind_of(module)
    shape = tuple(input_shape)
    with torch.no_grad():
        out_shape = tuple(module.eval()(torch.zeros(shape)).shape)
    pad = None
    tiles: list[Tile] = []
    if kind == "linear":
        features = out_shape[-1]
        if n > features:
            raise ValueError(
                f"Linear({module.in_features}, {features}) has {features} output features: at most that many parts"
            )
        for i, (lo, hi) in enumerate(bounds(features, n)):
            where = tuple((0, s) for s in out_shape[:-1]) + ((lo, hi),)
            tiles.append(Tile(i, where, tuple((0, s) for s in shape), channels=(lo, hi)))
        return Tiling("output features", kind, shape, out_shape, None, tuple(tiles))
    if len(shape) < 3:
        raise ValueError(f"a {kind} layer on inputs of shape {list(shape)} has no rows to split")
    # the first axis after the batch (channels), then the one after it (rows; of a 3-axis tensor, its last)
    second = 2
    channels, rows = out_shape[1], out_shape[second]
    most = channels * rows
    if n > most:
        raise ValueError(f"{channels} channels x {rows} rows: at most {most} parts")
    a, b = grid(n, channels, rows)
    how = {"conv": "output channels", "linear": "output features"}.get(kind, "channels")
    how += " x output rows" if b > 1 else ""
    if kind in ("conv", "depthwise"):
        p = _window(module)[2]
        pad = (p, _pair(module.padding)[1])
    for ci, (c0, c1) in enumerate(bounds(channels, a)):
        for ri, (r0, r1) in enumerate(bounds(rows, b)):
            out: list[tuple[int, int]] = [(0, s) for s in out_shape]
            out[1], out[second] = (c0, c1), (r0, r1)
            inp: list[tuple[int, int]] = [(0, s) for s in shape]
            if pad:
                inp[-2], inp[-1] = (0, shape[-2] + 2 * pad[0]), (0, shape[-1] + 2 * pad[1])
            if kind != "conv":  # every op but a full convolution reads only its own channels
                inp[1] = (c0, c1)
            if kind in ("pool", "conv", "depthwise"):
                k, stride, _ = _window(module)
                inp[second] = (r0 * stride, (r1 - 1) * stride + k)
            else:
                inp[second] = (r0, r1)
            tiles.append(Tile(ci * b + ri, tuple(out), tuple(inp), channels=(c0, c1)))
    return Tiling(how, kind, shape, out_shape, pad, tuple(tiles))


def tile_ops(module: nn.Module, t: Tiling, tile: Tile) -> int:
    """A tile's size as its circuit grows with it: the multiply-accumulates (or element ops) of its
    outputs plus the inputs it reads (each a public value, range-checked and looked up). --split auto
    scales a probed part's rows by this (zkbench.engine.split_choice)."""
    outputs = math.prod(hi - lo for lo, hi in tile.out)
    inputs = math.prod(hi - lo for lo, hi in tile.inp)
    per_output = 1
    if isinstance(module, nn.Linear):
        per_output = module.in_features
    elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        per_output = math.prod(_pair(module.kernel_size))
    elif isinstance(module, nn.Conv2d):  # depthwise: one input channel per output
        per_output = (1 if t.kind == "depthwise" else module.in_channels) * math.prod(_pair(module.kernel_size))
    return outputs * per_output + inputs


def largest_tile(module: nn.Module, t: Tiling) -> Tile:
    """The tile whose circuit is the largest (tiles are as equal as the axes allow)."""
    return max(t.tiles, key=lambda tile: (tile_ops(module, t, tile), -tile.index))


def tile_input(x: torch.Tensor, t: Tiling, tile: Tile) -> torch.Tensor:
    """The part of the whole input `tile` reads (of the zero-padded input, when the tiling pads)."""
    if t.pad:
        x = nn.functional.pad(x, (t.pad[1], t.pad[1], t.pad[0], t.pad[0]))
    return x[tuple(slice(lo, hi) for lo, hi in tile.inp)].contiguous()


def tile_module(module: nn.Module, t: Tiling, tile: Tile) -> nn.Module:
    """The tile as a module of the same op, carrying its slice of the whole layer's weights."""
    if t.kind in ("elementwise", "pool"):
        return module
    c0, c1 = tile.channels or (0, 0)
    with torch.no_grad():
        if isinstance(module, nn.BatchNorm2d):
            return _batchnorm_tile(module, c0, c1).eval()
        if isinstance(module, nn.Linear):
            return _linear_tile(module, c0, c1).eval()
        assert isinstance(module, nn.Conv2d), t.kind
        return _conv_tile(module, c0, c1, depthwise=t.kind == "depthwise").eval()


def _batchnorm_tile(module: nn.BatchNorm2d, c0: int, c1: int) -> nn.BatchNorm2d:
    m = nn.BatchNorm2d(c1 - c0, eps=module.eps, momentum=module.momentum, affine=module.affine)
    for name in ("weight", "bias", "running_mean", "running_var"):
        src = getattr(module, name)
        if src is not None:
            getattr(m, name).copy_(src[c0:c1])
    return m


def _linear_tile(module: nn.Linear, c0: int, c1: int) -> nn.Linear:
    m = nn.Linear(module.in_features, c1 - c0, bias=module.bias is not None)
    m.weight.copy_(module.weight[c0:c1])
    if module.bias is not None and m.bias is not None:
        m.bias.copy_(module.bias[c0:c1])
    return m


def _conv_tile(module: nn.Conv2d, c0: int, c1: int, depthwise: bool) -> nn.Conv2d:
    m = nn.Conv2d(
        c1 - c0 if depthwise else module.in_channels,
        c1 - c0,
        _pair(module.kernel_size),
        stride=_pair(module.stride),
        padding=0,  # the tiling padded the input already
        groups=c1 - c0 if depthwise else 1,
        bias=module.bias is not None,
    )
    m.weight.copy_(module.weight[c0:c1])
    if module.bias is not None and m.bias is not None:
        m.bias.copy_(module.bias[c0:c1])
    return m


def reassemble(outputs: list[torch.Tensor], t: Tiling) -> torch.Tensor:
    """The whole output from the tiles' outputs, each put where its tile says."""
    whole = torch.empty(t.output_shape, dtype=outputs[0].dtype)
    for tile, y in zip(t.tiles, outputs, strict=True):
        whole[tuple(slice(lo, hi) for lo, hi in tile.out)] = y.reshape([hi - lo for lo, hi in tile.out])
    return whole


@dataclass(frozen=True)
class PartSpec:
    """Part k (0-based) of a registry layer tiled into n parts, as a spec of its own (the Spec
    protocol): the engine exports, searches, proves and verifies it as it does a whole layer. n is
    a tiling's own part count (tiling(module, shape, n).parts == n), so the name rebuilds the part."""

    parent: LayerSpec
    n: int
    k: int

    def __post_init__(self):
        if not 0 <= self.k < self.n:
            raise ValueError(f"part {self.k + 1} of {self.n} does not exist")

    @property
    def name(self) -> str:
        return f"{self.parent.name}~part{self.k + 1}of{self.n}"

    @property
    def group(self) -> str:
        return self.parent.group

    @property
    def tags(self) -> frozenset[str]:
        return self.parent.tags

    @property
    def inputs(self) -> str:
        return self.parent.inputs

    @property
    def workload_version(self) -> int:
        return self.parent.workload_version

    @property
    def onnx_path(self) -> None:
        return None

    @property
    def marker(self) -> str:
        return self.parent.marker

    @property
    def classifier(self) -> bool:
        return False  # a tile's outputs are part of the layer's, never class logits

    @cached_property
    def _tilings(self) -> dict[str, Tiling]:
        return {}

    def tiling(self, profile: str) -> Tiling:
        if profile not in self._tilings:
            shape = self.parent.shape(profile).input_shape
            t = tiling(self.parent.module(profile), shape, self.n)
            if t.parts != self.n:
                raise ValueError(
                    f"{self.parent.name} tiles into {t.parts} parts, not {self.n}, when asked for {self.n}"
                )
            self._tilings[profile] = t
        return self._tilings[profile]

    def tile(self, profile: str) -> Tile:
        return self.tiling(profile).tiles[self.k]

    def shape(self, profile: str) -> Shape:
        return Shape(tuple(hi - lo for lo, hi in self.tile(profile).inp))

    def result_profile(self, profile: str) -> str:
        return profile

    def fingerprint(self, profile: str) -> str:
        doc = {"parent": self.parent.fingerprint(profile), "n": self.n, "k": self.k, "split_version": SPLIT_VERSION}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def parts_of(spec: LayerSpec, profile: str, n: int) -> list[PartSpec]:
    """The parts of `spec` tiled into at least n (the tiling's own count; ValueError when it has no split)."""
    t = tiling(spec.module(profile), spec.shape(profile).input_shape, n)
    return [PartSpec(spec, t.parts, k) for k in range(t.parts)]


def spec_named(name: str) -> LayerSpec | PartSpec:
    """A registry layer, or a part of one by its PartSpec name; KeyError for an unknown layer."""
    m = PART_NAME.match(name)
    if m is None:
        return get(name)
    return PartSpec(get(m["parent"]), int(m["n"]), int(m["k"]) - 1)
