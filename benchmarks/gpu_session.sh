#!/usr/bin/env bash
# One lent-GPU session, sized for the device tool's 10-minute command limit (issue 18):
#   1. engine vs raw inference for AllConv, NiN and VGG-16 at fp32 and bf16 (256 attacks per call), with how
#      often bf16's success and chosen pixel agree with fp32 on the same images and seeds;
#   1b. the incremental pass on and off on the device (1 and 3 pixels, whole image and a 30 % region);
#   2. the rest of the time advances the campaigns in $CAMPAIGNS (default campaigns/paper-cifar10.toml) with
#      --time-limit, each resuming from its committed results/<dir>/store.sqlite when there is one;
#   3. the checkpointed stores ($OUT/<campaign>.sqlite) and the logs land in $OUT (commit each store under its
#      results/<dir>/ and run `pixelspace report` on it here).
# Usage on the device machine, from the repository root:  BUDGET=540 bash benchmarks/gpu_session.sh
#   DE calibration first (issue 17, item 4), then issue 30's sparse-search pilot and its campaign
#   campaigns/cifar10-sparse-500.toml (15,000 attacks at the pilot's 10,000 queries) and its targeted rows
#   campaigns/cifar10-sparse-100-targeted.toml, then issue 29's translation scans (with the (+4, +4) in-place
#   control) and 27-colour scan, then the paper grid:
#   CAMPAIGNS="campaigns/cifar10-de-calibration.toml:results/cifar10-de-calibration \
#              campaigns/cifar10-sparse-500-pilot.toml:results/cifar10-sparse-500-pilot \
#              campaigns/cifar10-sparse-500.toml:results/cifar10-sparse-500 \
#              campaigns/cifar10-sparse-100-targeted.toml:results/cifar10-sparse-100-targeted \
#              campaigns/cifar10-scan-500-shift-pp.toml:results/cifar10-scan-500-shift-pp \
#              campaigns/cifar10-scan-500-shift-mm.toml:results/cifar10-scan-500-shift-mm \
#              campaigns/cifar10-scan-500-inplace-pp.toml:results/cifar10-scan-500-inplace-pp \
#              campaigns/cifar10-scan-27-100.toml:results/cifar10-scan-27-100 \
#              campaigns/paper-cifar10.toml:results/cifar10" BUDGET=540 bash benchmarks/gpu_session.sh
set -euo pipefail
OUT=${OUT:-/tmp/gpu-session}
BUDGET=${BUDGET:-540}          # seconds this script may take in all
MARGIN=${MARGIN:-40}           # kept back for the checkpoint and the copy
IMAGES=${IMAGES:-256}
GENERATIONS=${GENERATIONS:-5}
DEVICE=${DEVICE:-cuda}         # DEVICE=cpu for a dry run of the script on a CPU machine
MODELS=${MODELS:-allconv-cifar10,nin-cifar10,vgg16-cifar10}
PY=${PY:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
mkdir -p "$OUT" stores
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"

$PY benchmarks/engine_device.py --device "$DEVICE" --models "$MODELS" \
    --images "$IMAGES" --generations "$GENERATIONS" --precisions fp32,bf16 2>&1 | tee "$OUT/engine_device.txt"

# the incremental pass on the device (issue 20): "auto" keeps CUDA on full passes until this says it wins
$PY benchmarks/incremental.py --device "$DEVICE" --models "$MODELS" --pixels 1,3 --images 16 --population 100 \
    --generations 2 --scan-models "" 2>&1 | tee "$OUT/incremental.txt"

# campaigns to advance, in order, each as CAMPAIGN_TOML:RESULTS_DIR (the committed store it resumes from); a
# campaign that finishes early leaves the rest of the time to the next one
CAMPAIGNS=${CAMPAIGNS:-campaigns/paper-cifar10.toml:results/cifar10}
for item in $CAMPAIGNS; do
  toml=${item%%:*}
  results=${item#*:}
  name=$(basename "$toml" .toml)
  # the store as `pixelspace run` finds it (a relative path is taken from the campaign file's folder)
  store=$($PY -c "import sys; from pixelspace.campaign import load_config; print(load_config(sys.argv[1]).campaign.store)" "$toml")
  mkdir -p "$(dirname "$store")"
  if [ -f "$results/store.sqlite" ] && [ ! -f "$store" ]; then
    cp "$results/store.sqlite" "$store"
  fi
  left=$(( BUDGET - MARGIN - ($(date +%s) - start) ))
  if [ "$left" -gt 60 ]; then
    $PY -m pixelspace run "$toml" --no-progress --time-limit "${left}s" 2>&1 | tee "$OUT/run-$name.txt"
  else
    echo "only ${left}s left: $toml did not run" | tee "$OUT/run-$name.txt"
  fi
  if [ -f "$store" ]; then
    # one checkpointed file (no -wal / -shm), to commit as $results/store.sqlite
    $PY - "$store" "$OUT/$name.sqlite" <<'PYEOF'
import sqlite3, sys
src = sqlite3.connect(sys.argv[1])
src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.execute("PRAGMA journal_mode = DELETE")
dst.close()
src.close()
PYEOF
    $PY -m pixelspace status "$OUT/$name.sqlite" | head -3 | tee "$OUT/status-$name.txt"
  fi
done
echo "done in $(( $(date +%s) - start )) s"
