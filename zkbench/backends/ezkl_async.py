"""ezkl 16.x-19.x Python backends: `ezkl` 19.0.7 (the last release with the `tolerance` run arg)
and `ezkl-gpu` 16.1.0 (icicle GPU build). Same files and verifier messages as ezkl 23; the API differs:

- calibrate_settings and gen_witness need a running asyncio event loop (gen_witness returns an
  awaitable, and the witness file is unwritten until it is awaited);
- prove takes a proof type ("single") before the SRS path.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from zkbench.backends import Backend
from zkbench.backends.ezkl23 import Ezkl23, _ezkl


class EzklAsync(Ezkl23):
    def __init__(self, name: str, stable_layout: bool = True):
        self.name = name
        self.stable_layout = stable_layout

    def _call(self, function: str, *args, **kwargs) -> Any:
        fn = getattr(_ezkl(), function)

        async def in_loop():
            out = fn(*args, **kwargs)
            return await out if inspect.isawaitable(out) else out

        return asyncio.run(in_loop())

    def prove(self, witness: str, compiled: str, pk: str, proof: str, srs: str) -> None:
        self._call("prove", witness, compiled, pk, proof, "single", srs)


EZKL_19: Backend = EzklAsync("ezkl-19")
# ezkl-gpu 16.1 lays out a different number of rows for the same run args from one call to the next
# (4 columns; CI's SiLU-tol2: 751 rows from gen_settings, 725 calibrated)
EZKL_GPU_16: Backend = EzklAsync("ezkl-gpu-16", stable_layout=False)
