#!/usr/bin/env bash
# On a GPU machine: install, run the tests marked `gpu`, and measure the segment stage on a demo campaign
# (images per second, GPU utilisation sampled by nvidia-smi every 200 ms).
# Usage: benchmarks/gpu_check.sh [SERIES] [TIMEPOINTS]   (default 250 x 4 = 1,000 images of 768 x 1024 px)
# On a machine whose Python already holds a CUDA torch and that cannot reach a package registry:
#   PYTHON=python3 WHEELS=wheel-folder benchmarks/gpu_check.sh
# adds the missing packages from WHEELS (no dependency resolution, torch left alone) and rootpipe.
set -euo pipefail
trap 'echo "gpu_check: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
series=${1:-250}; timepoints=${2:-4}; tests_failed=0
if [ -n "${PYTHON:-}" ]; then
  [ -z "${WHEELS:-}" ] || "$PYTHON" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
  "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation -e .
  py=$(command -v "$PYTHON"); bin=$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')")
else
  make install                                 # venv, pinned torch + torchvision, rootpipe
  bin=.venv/bin; py=$bin/python
fi
device=${DEVICE:-cuda}   # DEVICE=cpu checks this script on a machine without a GPU
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
  # A failing test is reported at the end; the measurements still run.
  $py -m pytest -q -m gpu tests/test_gpu.py || tests_failed=1
fi

work=$(mktemp -d /tmp/rootpipe-gpu.XXXX)
$bin/rootpipe demo "$work/camp" --series "$series" --timepoints "$timepoints" --quiet
printf 'input_dir: %s/camp/images\nmetadata_csv: %s/camp/metadata.csv\nresults_dir: %s/results\n' \
  "$work" "$work" "$work" > "$work/config.yaml"
# Ingest and tile (CPU stages), then time the segment stage alone.
$bin/rootpipe ingest --config "$work/config.yaml" --quiet
for batch in "$work"/results/batches/*.tsv; do
  $bin/rootpipe tile "$batch" "$work/results/images/$(basename "$batch" .tsv).zarr" --config "$work/config.yaml" --quiet
done
n_images=$(cat "$work"/results/batches/*.tsv | grep -vc '^image_id')
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 > "$work/gpu.csv" &
else
  while :; do echo "0, 0"; sleep 0.2; done > "$work/gpu.csv" &
fi
sampler=$!
start=$(date +%s.%N)
for store in "$work"/results/images/*.zarr; do
  $bin/rootpipe segment "$store" "$work/results/seg-$(basename "$store")" --threads 4 --quiet \
    --config "{\"segment\": {\"device\": \"$device\"}}"
done
end=$(date +%s.%N)
kill $sampler
$py - "$work/gpu.csv" "$n_images" "$start" "$end" "$device" <<'PY'
import sys
import numpy as np
rows = [l.split(",") for l in open(sys.argv[1]) if l.strip()]
util = np.array([float(r[0]) for r in rows]); mem = np.array([float(r[1]) for r in rows])
n, seconds = int(sys.argv[2]), float(sys.argv[4]) - float(sys.argv[3])
print(f"segment stage ({sys.argv[5]}): {n} images of 768 x 1024 px in {seconds:.1f} s = {n / seconds:.2f} images/s "
      f"(model load and process start included, one process per batch)")
print(f"GPU utilisation: mean {util.mean():.0f} %, median {np.median(util):.0f} %, "
      f"p95 {np.percentile(util, 95):.0f} %, max {util.max():.0f} %; "
      f"memory used max {mem.max():.0f} MiB ({len(util)} samples)")
PY

# The same table as docs/performance.md on this device: model only, end to end (warm), naive baseline,
# the stage's cost besides the network and a process's start; end to end / model only from its JSON.
$py benchmarks/segment.py --images 12 --threads 4 --predictor null --json "$work/segment.json"
$py -c "import json, sys; d = json.load(open(sys.argv[1])); print(f\"end to end (one stage run, model load included) / model only: {d['end_to_end_s_per_mp'] / d['model_only_s_per_mp']:.2f}\")" "$work/segment.json"
# A short training run (mixed precision on CUDA); synthetic tiles are made on the CPU meanwhile.
start=$(date +%s.%N)
$bin/rootpipe train --synthetic "$work/train" --synthetic-series 4 --out "$work/model.safetensors" \
  --epochs 2 --steps 50 --batch 16 --device "$device" --quiet
end=$(date +%s.%N)
$py -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f'train: 2 x 50 steps of 16 tiles of 256 px on $device in {s:.1f} s = {100 / s:.1f} steps/s (synthetic campaign generation and validation included)')" "$start" "$end"
[ -n "${KEEP:-}" ] || rm -rf "$work"
if [ "$tests_failed" = 1 ]; then echo "gpu_check: the gpu tests FAILED (output above)" >&2; exit 1; fi
