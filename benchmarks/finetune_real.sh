#!/usr/bin/env bash
# Fine-tune the shipped model on each real minirhizotron set's train split, then score its test split.
# Usage: benchmarks/finetune_real.sh DATA_DIR OUT_DIR [dataset ...]
# Weights trained on these images stay in OUT_DIR: never commit them (licences differ).
set -euo pipefail
data=${1:?data folder, e.g. ../shared/data}; out=${2:?output folder}; shift 2
datasets=${*:-segroot_soybean plantrootseg_peanut plantrootseg_switchgrass}
mkdir -p "$out"
# OpenMP threads that spin while waiting burn CPU time when other work shares the cores.
export OMP_WAIT_POLICY=PASSIVE
for ds in $datasets; do
  # Steps sized so each fine-tune stays inside 60 CPU-minutes. One thread: on 2 cores a second
  # torch thread saves under 10 % wall time per step for 30 % more CPU time.
  # Soybean adds the centre-line recall term: its length R² is what a campaign reports (docs/segmentation.md).
  case $ds in
    segroot_soybean) epochs=6; steps=250; lr=4e-3; aug=light; skel=1 ;;
    plantrootseg_peanut) epochs=5; steps=100; lr=2e-3; aug=light; skel=0 ;;
    *) epochs=5; steps=80; lr=2e-3; aug=light; skel=0 ;;
  esac
  /usr/bin/time -v -o "$out/$ds.time" rootpipe train --pairs "$data/pairs.csv" --dataset "$ds" \
    --init rootpipe/models/default.safetensors --epochs $epochs --steps $steps --lr $lr \
    --augmentation $aug --skeleton-weight $skel --threads 1 --quiet --out "$out/$ds.safetensors" > "$out/$ds.train.log" 2>&1
  rootpipe evaluate --checkpoint "$out/$ds.safetensors" --pairs "$data/pairs.csv" --dataset "$ds" \
    --split test --threads 2 --quiet --out "$out/$ds.test.csv" > "$out/$ds.eval.log" 2>&1
done
# One markdown table of the test-split scores and the training cost (CPU time from /usr/bin/time).
python - "$out" $datasets <<'PY'
import re, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| dataset (test split) | images | F1 (= Dice) | IoU | precision | recall | mean per-image F1 | length R² | length slope | training CPU-min | wall min |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for ds in sys.argv[2:]:
    s = dict(line.split(": ", 1) for line in (out / f"{ds}.eval.log").read_text().splitlines() if ": " in line)
    t = (out / f"{ds}.time").read_text()
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", t).group(1)) for k in ("User", "System"))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", t).group(1).split(":")
    wall_min = sum(float(v) * 60 ** (len(wall) - 2 - i) for i, v in enumerate(wall))
    f = lambda k: f"{float(s[k]):.3f}"
    print(f"| {ds} | {s['n_images']} | {f('pooled_f1')} | {f('pooled_iou')} | {f('pooled_precision')} | "
          f"{f('pooled_recall')} | {f('mean_f1')} | {f('length_r2')} | {f('length_slope')} | {cpu / 60:.1f} | {wall_min:.1f} |")
PY
