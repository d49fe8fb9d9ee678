#!/usr/bin/env bash
# Ablations (paper Table III: without CND, without diffusion, K) and issue-8 refiner switches,
# all trained on ONE `d3pr bench` run's cross-fitted predictions and noise model, with the same
# number of steps as the bench's refiner, validated on S8 (held out of the refiner's training), then scored
# once on the run's test predictions (S9, S11).
#
# usage: scripts/ablations.sh BENCH_RUN_DIR OUT_DIR [STEPS] [VARIANT ...]
#   e.g. scripts/ablations.sh bench_out/stcformer-detected abl 800 paper wo_cnd wo_diff residual_ar1
# Each variant trains in the background at one thread; the script waits for all, then evaluates.
set -euo pipefail
run=$1
out=$2
steps=${3:-800}
shift $(( $# >= 3 ? 3 : $# ))
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(paper wo_cnd wo_diff residual_ar1)
P=$run/predictions
N=$run/noise.safetensors
mkdir -p "$out"

flags_of() {
  case $1 in
    paper) echo "" ;;  # the default, retrained under the same load as the other variants
    wo_cnd) echo "--no-cnd" ;;
    wo_diff) echo "--no-diffusion" ;;
    ar1) echo "--noise-temporal ar1" ;;
    residual) echo "--mode residual" ;;
    residual_ar1) echo "--mode residual --noise-temporal ar1" ;;
    input_noisy) echo "--input-noisy" ;;
    loss_x0) echo "--loss-x0" ;;
    depth4) echo "--depth 4" ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}

for v in "${variants[@]}"; do
  flags=$(flags_of "$v")
  (
    export OMP_NUM_THREADS=1
    if [ ! -f "$out/$v/done" ]; then
      # shellcheck disable=SC2086
      d3pr train "$P/train_crossfit.npz" --noise "$N" --out "$out/$v" --preset cpu --steps "$steps" \
        --train-stride 27 --val-subjects S8 --no-progress --resume $flags
      touch "$out/$v/done"
    fi
    [ -f "$out/$v.npz" ] || d3pr refine "$out/$v" "$P/test.npz" -o "$out/$v.npz" --no-progress
  ) > "$out/$v.log" 2>&1 &
done
wait

# K (paper Table III/IV style): the bench's own refiner with 1 and 5 steps
for K in 1 5; do
  [ -f "$out/K$K.npz" ] || OMP_NUM_THREADS=2 d3pr refine "$run/refiner" "$P/test.npz" \
    -o "$out/K$K.npz" --K "$K" --no-progress
done

names=base,refined_K2
files=("$P/test.npz" "$P/refined_test.npz")
for f in K1 K5 "${variants[@]}"; do names="$names,$f"; files+=("$out/$f.npz"); done
d3pr evaluate "${files[@]}" --names "$names" --noise "$N" --baselines savgol --no-gif \
  --out "$out/report"
