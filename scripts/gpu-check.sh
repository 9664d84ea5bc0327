#!/usr/bin/env bash
# GPU check of the ezkl-gpu-16 backend, for a machine with NVIDIA GPUs (none of this project's CI
# machines has one). It proves a few smoke and paper experiments with one xdist worker per GPU, then
# the same experiments with the GPUs hidden (the same prover on the CPU), and prints per experiment:
# whether the prover's own process used its GPU (NVML per-process accounting), its GPU memory peak,
# the predicted prove peak (host RSS; --split auto uses it as the GPU memory's proxy, against the GPU's
# own memory: split_choice.budget_from says so) and the GPU prove time against the CPU prove time of
# the same circuit.
#
#   scripts/gpu-check.sh                 # all GPUs; results under /tmp/zkbench-gpu-check
#   GPUS=2 OUT=/data/check scripts/gpu-check.sh
#
# Needs: this checkout installed (pip install -e .), network to PyPI for the ezkl-gpu wheel once.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
GPUS=${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
OUT=${OUT:-/tmp/zkbench-gpu-check}
SMOKE=${SMOKE:-ReLU,Tanh,Dense,CNN_ReLU}
PAPER=${PAPER:-ReLU,Dense}
if [ "${GPUS:-0}" -lt 1 ]; then
  echo "gpu-check: no GPU found (nvidia-smi -L lists none); set GPUS=N to force" >&2
  exit 2
fi
"$PY" -m zkbench backend install ezkl-gpu-16
run() {  # $1: results dir, $2: profile, $3: layers, rest: extra pytest args
  local dir=$1 profile=$2 layers=$3
  shift 3
  "$PY" -m pytest benchmarks -p no:cacheprovider -q --backend ezkl-gpu-16 --profile "$profile" \
    --layer "$layers" --tol 2 --results-dir="$dir" "$@" || true  # failures are in the table
}
run "$OUT/gpu" smoke "$SMOKE" -n "$GPUS"
run "$OUT/gpu" paper "$PAPER" -n "$GPUS"
# the same circuits on the CPU: no GPU visible, so every worker is in CPU mode
CUDA_VISIBLE_DEVICES= run "$OUT/cpu" smoke "$SMOKE" -n 1
CUDA_VISIBLE_DEVICES= run "$OUT/cpu" paper "$PAPER" -n 1
"$PY" - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])

def results(d):
    docs = {}
    for f in sorted((out / d).glob("*/*-ezkl-gpu-16.json")):
        r = json.loads(f.read_text())
        docs[(r["id"], r["profile"])] = r
    return docs

def prove_s(r):
    return statistics.median(r["stages"]["prove"]["seconds"]) if r and r.get("status") == "ok" else None

gpu, cpu = results("gpu"), results("cpu")
print(f"{'experiment':22} {'profile':7} {'logrows':>7} {'device':6} {'GPU used':9} {'GPU mem':>9} "
      f"{'predicted':>9} {'prove GPU s':>11} {'prove CPU s':>11} {'CPU/GPU':>7}")
for key in sorted(set(gpu) | set(cpu)):
    g, c = gpu.get(key), cpu.get(key)
    ref = g or c
    used = (g or {}).get("gpu", {}).get("used_by_prover")
    mem = ((g or {}).get("gpu", {}).get("prover_peak_mem_bytes") or {}).get("prove")
    tg, tc = prove_s(g), prove_s(c)
    pred = ((g or {}).get("prediction") or {}).get("prove_peak_rss_bytes")
    print(f"{key[0]:22} {key[1]:7} {ref.get('circuit', {}).get('logrows', '-')!s:>7} "
          f"{(g or {}).get('backend', {}).get('device', '-'):6} "
          f"{ {True: 'yes', False: 'no', None: 'unknown'}[used]:9} "
          f"{(f'{mem / 2**20:.0f} MiB' if mem else '-'):>9} "
          f"{(f'{pred / 2**20:.0f} MiB' if pred else '-'):>9} "
          f"{(f'{tg:.2f}' if tg else (g or {}).get('status', '-')):>11} "
          f"{(f'{tc:.2f}' if tc else (c or {}).get('status', '-')):>11} "
          f"{(f'{tc / tg:.2f}' if tg and tc else '-'):>7}")
    if g and g.get("status") != "ok":
        print(f"    GPU run: {g.get('failure') or g.get('skip_reason')}")
    if g and g.get("split_choice", {}).get("budget_from"):
        print(f"    split budget: {g['split_choice']['budget_bytes'] / 2**30:.1f} GiB from {g['split_choice']['budget_from']}")
    if g and g.get("gpu", {}).get("note"):
        print(f"    {g['gpu']['note']}")
PY
