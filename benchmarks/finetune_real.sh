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
  case $ds in  # steps sized so each fine-tune stays well inside 60 CPU-minutes on 2 cores
    segroot_soybean) epochs=6; steps=120 ;;
    plantrootseg_peanut) epochs=5; steps=100 ;;
    *) epochs=5; steps=80 ;;
  esac
  /usr/bin/time -v -o "$out/$ds.time" rootpipe train --pairs "$data/pairs.csv" --dataset "$ds" \
    --init rootpipe/models/default.safetensors --epochs $epochs --steps $steps --lr 1e-3 \
    --threads 2 --quiet --out "$out/$ds.safetensors" > "$out/$ds.train.log" 2>&1
  rootpipe evaluate --checkpoint "$out/$ds.safetensors" --pairs "$data/pairs.csv" --dataset "$ds" \
    --split test --threads 2 --quiet --out "$out/$ds.test.csv" > "$out/$ds.eval.log" 2>&1
done
