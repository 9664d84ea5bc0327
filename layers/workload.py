"""Concrete workloads: a spec at a profile becomes a module with fixed weights plus inputs.

Core and scaling layers get seeded weights and seeded N(0,1) inputs. The composite CNNs are
trained deterministically on a real image data set (scikit-learn's bundled digits, or CIFAR-10
when the user points ZKBENCH_CIFAR10 at a local copy in torchvision's layout); their inputs are
held-out images. Trained weights are cached on disk.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from zkbench.files import atomic_write
from zkbench.layers.registry import LayerSpec
from zkbench.layers.split import PartSpec, tile_input, tile_module

SEED = 1234
TRAIN_EPOCHS = 30


@dataclass
class Workload:
    module: nn.Module
    calibration: list[torch.Tensor]  # inputs the tolerance search may look at
    heldout: list[torch.Tensor]  # inputs used only to measure the chosen circuit
    meta: dict = field(default_factory=dict)


def _randomize_norm_stats(module: nn.Module, gen: torch.Generator) -> None:
    """Default BN/LN parameters are the identity; give them seeded non-trivial values."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)) and m.weight is not None and m.bias is not None:
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
        if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
            m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def load_images(hw: int, in_ch: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(dataset name, x_train, y_train, x_test, y_test) as float32 NCHW brought to (in_ch, hw, hw)."""
    cifar = os.environ.get("ZKBENCH_CIFAR10")
    if cifar:
        name = "cifar10"
        xtr, ytr, xte, yte = _load_cifar10(Path(cifar))
    else:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        x = (d.images.astype(np.float32) / 16.0 - 0.5) / 0.5  # 8x8 in [-1, 1]
        xtr, xte, ytr, yte = train_test_split(
            x[:, None], d.target, test_size=0.25, random_state=SEED, stratify=d.target
        )
        name = "sklearn-digits"

    def fit(a: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if t.shape[-1] != hw:
            t = F.interpolate(t, size=(hw, hw), mode="bilinear", align_corners=False)
        if t.shape[1] != in_ch:
            t = t.mean(1, keepdim=True).repeat(1, in_ch, 1, 1)
        return t.numpy()

    return name, fit(xtr), np.asarray(ytr), fit(xte), np.asarray(yte)


def _load_cifar10(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 from torchvision's on-disk layout (cifar-10-batches-py), no download."""
    base = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    if not (base / "test_batch").is_file():
        raise FileNotFoundError(
            f"ZKBENCH_CIFAR10={root} has no cifar-10-batches-py/test_batch: "
            "point it at torchvision's CIFAR10 root folder"
        )

    def read(files):
        xs, ys = [], []
        for f in files:
            with open(base / f, "rb") as fh:
                d = pickle.load(fh, encoding="latin1")
            xs.append(np.asarray(d["data"], dtype=np.float32).reshape(-1, 3, 32, 32))
            ys.extend(d["labels"])
        return (np.concatenate(xs) / 255.0 - 0.5) / 0.5, np.asarray(ys)

    xtr, ytr = read([f"data_batch_{i}" for i in range(1, 6)])
    xte, yte = read(["test_batch"])
    return xtr, ytr, xte, yte


def _train(module: nn.Module, x: np.ndarray, y: np.ndarray) -> None:
    gen = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    opt = torch.optim.Adam(module.parameters(), lr=2e-3)
    module.train()
    for _ in range(TRAIN_EPOCHS):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(module(xt[idx]), yt[idx]).backward()
            opt.step()
    module.eval()


def _accuracy(module: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((module(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def build_workload(
    spec: LayerSpec | PartSpec, profile: str, model_cache: Path | None, n_calibration: int = 4, n_heldout: int = 4
) -> Workload:
    """The module with its weights and inputs. Deterministic for a given spec and profile; a part's
    is its whole layer's, tiled (its slice of the weights, the part of each input it reads)."""
    if isinstance(spec, PartSpec):
        whole = build_workload(spec.parent, profile, model_cache, n_calibration, n_heldout)
        t, tile = spec.tiling(profile), spec.tile(profile)
        part = {"of": spec.parent.name, "part": spec.k + 1, "parts": spec.n, "how": t.how}
        return Workload(
            tile_module(whole.module, t, tile),
            [tile_input(x, t, tile) for x in whole.calibration],
            [tile_input(x, t, tile) for x in whole.heldout],
            {**whole.meta, "part": part},
        )
    shape = spec.shape(profile)
    torch.manual_seed(SEED)
    module = spec.module(profile)
    gen = torch.Generator().manual_seed(SEED)
    _randomize_norm_stats(module, gen)
    if spec.inputs == "random":
        xs = [torch.randn(shape.input_shape, generator=gen) for _ in range(n_calibration + n_heldout)]
        return Workload(module.eval(), xs[:n_calibration], xs[n_calibration:], {"inputs": "seeded N(0,1)"})

    p = shape.params
    dataset, xtr, ytr, xte, yte = load_images(p["hw"], p["in_ch"])
    weights = (
        model_cache / f"{spec.name}-{spec.fingerprint(profile)}-{dataset}-{torch.__version__}.pt"
        if model_cache
        else None
    )
    if weights and weights.is_file():
        module.load_state_dict(torch.load(weights, weights_only=True))
    else:
        _train(module, xtr, ytr)
        if weights:
            weights.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(weights, lambda f: torch.save(module.state_dict(), f))
    module.eval()
    # Calibration images come from the training split, held-out ones from the test split.
    cal = [torch.from_numpy(xtr[i : i + 1]) for i in range(n_calibration)]
    held = [torch.from_numpy(xte[i : i + 1]) for i in range(n_heldout)]
    meta = {
        "inputs": f"{dataset} images",
        "dataset": dataset,
        "float_test_accuracy": round(_accuracy(module, xte, yte), 4),
        "test_samples": int(len(yte)),
    }
    return Workload(module, cal, held, meta)
