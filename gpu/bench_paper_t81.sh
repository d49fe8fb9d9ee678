#!/usr/bin/env bash
# The paper's Table I / II protocol at T = 81 with the `paper` sizes on VideoPose3D's Human3.6M
# files, on one GPU: for each 2D setting (CPN, GT) and lifter (STCFormer with TDS 3, MixSTE), the
# leak-free bench (two fold lifters + the full one, CND, refiner, evaluation), then the paper's
# likely protocol on the same lifters (`--protocol insample` on the run's own in-sample training
# predictions: no lifter is trained again). Each run prints its 15 actions beside the paper's rows
# and writes them to RUN/paper.md. Resumable: rerun the same command after an interruption.
#
#   gpu/bench_paper_t81.sh DIR [OUT]
#
# DIR holds data_3d_h36m.npz, data_2d_h36m_gt.npz, data_2d_h36m_cpn_ft_h36m_dbb.npz and
# cameras.json (docs/protocol.md). Environment (defaults in brackets): MODELS ["stcformer mixste"],
# SETTINGS ["cpn gt"], LIFTER_STEPS [the preset's 40000], PRESET [paper81], DEVICE [cuda],
# THREADS [8].
#
# Expected time on one H100 (bf16), from the FLOPs of one training step (torch's FlopCounterMode:
# MixSTE 284 GFLOP, STCFormer 43 GFLOP per 81-frame window, refiner 29) at an assumed 150-300
# TFLOP/s: per lifter run of 40,000 steps of 1,024 windows, MixSTE 11-22 h and STCFormer 1.6-3.2 h;
# a bench trains three (two folds, the full lifter): MixSTE 32-65 h, STCFormer 5-10 h per 2D
# setting; the refiner (20,000 steps of 64) 2-4 min. LIFTER_STEPS=4000 cuts the lifters tenfold
# (MixSTE 3-6.5 h, STCFormer 0.5-1 h per setting). The training prints its own forecast after its
# first steps: trust that over these numbers.
set -euo pipefail

DIR=${1:?usage: gpu/bench_paper_t81.sh DIR [OUT]}
OUT=${2:-bench_paper_t81}
MODELS=${MODELS:-stcformer mixste}
SETTINGS=${SETTINGS:-cpn gt}
PRESET=${PRESET:-paper81}
DEVICE=${DEVICE:-cuda}
THREADS=${THREADS:-8}
STEPS=()
if [[ -n "${LIFTER_STEPS:-}" ]]; then STEPS=(--lifter-steps "$LIFTER_STEPS"); fi

python -c "import sys, torch; d = sys.argv[1]; sys.exit(0 if d == 'cpu' or torch.cuda.is_available() else 'no CUDA device')" "$DEVICE"

for setting in $SETTINGS; do
  for model in $MODELS; do
    d3pr bench --source videopose3d --path "$DIR" --preset "$PRESET" --setting "$setting" \
      --model "$model" --device "$DEVICE" --threads "$THREADS" --jobs 1 "${STEPS[@]}" \
      --out "$OUT/leak_free"
    run=$(ls -d "$OUT/leak_free/$model-$setting"* | head -n 1)
    d3pr bench --predictions "$run/predictions/train_insample.npz,$run/predictions/test.npz" \
      --model "$model" --setting "$setting" --protocol insample --preset "$PRESET" \
      --device "$DEVICE" --threads "$THREADS" \
      --out "$OUT/insample"
  done
done
echo "leak-free runs: $OUT/leak_free/*/paper.md; the paper's protocol: $OUT/insample/*-insample/paper.md"
