#!/usr/bin/env bash
# A wider `general`, trained on a lent GPU in one call (docs/training.md#a-wider-general-on-a-gpu-prepared-not-yet-run).
#
# Here, first: python scripts/gpu_pack.py   (gpu_data/, 59.9 MiB, git-ignored)
# Then, with the device tool, from the repository root:
#   run(command="bash scripts/gpu_train_general.sh 400", carry=["gpu_data"], timeout_s=580)
#
# On the GPU machine (torch preinstalled, no network, the code from src/): fresh random-scale
# crops of gpu_data/ (whole-image to native-pixel views, then close-ups, as general's stages),
# and two runs side by side for BUDGET seconds each (small-batch training is launch-bound, so
# two runs share one GPU at almost full speed each):
#   wide:     a 1,144,358-parameter model (width 64, coarse 160, decoder 192) from scratch;
#   continued: general itself, trained on the same crops (the control: what more of the same
#              network gives at GPU speed).
# Both run folders (last/best.safetensors, log.csv, curve.png; each file under 16 MiB) are
# written under $OUT, which the device tool brings back. Dry run on CPU: OUT=runs/gpu_dry
# bash scripts/gpu_train_general.sh 20
set -euo pipefail
BUDGET=${1:-400}  # seconds of training per run
OUT=${OUT:?the device tool sets OUT; on CPU say OUT=runs/gpu_dry}
export PYTHONPATH=src
CROPS=$(mktemp -d)
trap 'rm -rf "$CROPS"' EXIT  # 2 GB of crops, not wanted back
mkdir -p "$OUT"
python -m impaint crops --celeba gpu_data/celeba --photos gpu_data/photos --face-crops 16 \
    --photo-crops 128 -o "$CROPS/whole.safetensors"
python -m impaint crops --celeba gpu_data/celeba --photos gpu_data/photos --face-crops 32 \
    --photo-crops 32 --max-zoom 2 --min-side 150 --include "$CROPS/whole.safetensors" \
    -o "$CROPS/crops.safetensors"
# Batch 256: at batch 64 a step is bound by kernel launches, so 4x the images cost little
# more time (untried on a GPU: read the img/s in the logs).
common=(--data "$CROPS/crops.safetensors" --steps 1000000 --time-budget "$BUDGET" --quiet
        --batch 256 --set valid_every=1000)
python -m impaint train "${common[@]}" --out "$OUT/wide" --set model.width=64 \
    --set model.coarse_width=160 --set model.hidden=192 --set lr=1.5e-3 --set warmup=500 \
    > "$OUT/wide.log" 2>&1 &
wide=$!
python -m impaint train "${common[@]}" --out "$OUT/continued" --set init=general \
    --set lr=3e-4 --set warmup=200 > "$OUT/continued.log" 2>&1 &
continued=$!
# Each run's own status: a bare `wait` returns 0 whatever the runs did.
status=0
wait "$wide" || { status=1; echo "the wide run failed: $OUT/wide.log" >&2; }
wait "$continued" || { status=1; echo "the continued run failed: $OUT/continued.log" >&2; }
tail -n 3 "$OUT"/*/log.csv
ls -la "$OUT"/*
exit "$status"
