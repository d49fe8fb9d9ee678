#!/usr/bin/env bash
# The `paper` presets of STCFormer and MixSTE at T = 81, GT 2D, on a GPU: one prepared run for the
# device machine (issue 13, item 6). The lifters train one after the other for the same budget
# (side by side, the `paper` MixSTE at batch 1024 took 131 GiB of an H200's 140 and both failed),
# MixSTE at batch 256; each then predicts S9 + S11 (flip test) and is scored; logs and results
# land in $OUT.
#
#   python scripts/pack_for_device.py          # here, once: .device/fk17-25fps (39 MB, git-ignored)
#   # device `run`, carry [".device"], timeout_s 540:
#   bash scripts/gpu_paper_lifters.sh 3        # 3 minutes of training per lifter
#
# A dry run of the same commands on a CPU: DEVICE=cpu PRESET=tiny STEPS=20 bash scripts/gpu_paper_lifters.sh
# Nothing trained here on the research data is committed: the weights stay under $WORK.
set -uo pipefail
MINUTES=${1:-3}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-paper}
T=${T:-81}
OUT=${OUT:-gpu_out}
WORK=${WORK:-/tmp/d3pr_gpu}
DATA=${DATA:-.device/fk17-25fps}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ ! -f "$DATA/npz-folder.json" ]; then
  echo "error: $DATA: run scripts/pack_for_device.py here first and carry .device" >&2
  exit 2
fi
mkdir -p "$OUT" "$WORK"
PY=${PY:-python3}
budget=(--minutes "$MINUTES")
[ -n "${STEPS:-}" ] && budget=(--steps "$STEPS")
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} > "$OUT/device.txt" 2>&1
one() {  # one lifter: train, predict the test subjects, score
  local m=$1 t0=$SECONDS bs=()
  [ "$m" = mixste ] && [ "$PRESET" = paper ] && bs=(--batch-size "${MIXSTE_BATCH:-256}")
  "$PY" -m d3prefiner lifter train --model "$m" --preset "$PRESET" --T "$T" --setting gt \
    --source npz-folder --path "$DATA" --fps 25 --cameras 4 \
    --train-subjects S1,S5,S6,S7 --val-subjects S8 "${budget[@]}" "${bs[@]}" \
    --device "$DEVICE" --out "$WORK/$m" &&
  local t1=$SECONDS &&
  "$PY" -m d3prefiner lifter predict "$WORK/$m" --subjects S9,S11 --split test \
    --device "$DEVICE" --force -o "$WORK/$m-test.npz" &&
  "$PY" -m d3prefiner evaluate "$WORK/$m-test.npz" --names "$m" --baselines none \
    --no-figures --out "$WORK/$m-eval" &&
  cp "$WORK/$m-eval/results.json" "$OUT/$m-results.json" &&
  echo "$m: trained $((t1 - t0)) s, predicted and scored $((SECONDS - t1)) s"
}
for m in stcformer mixste; do
  one "$m" > "$OUT/$m.log" 2>&1
done
for m in stcformer mixste; do tail -n 3 "$OUT/$m.log"; done
