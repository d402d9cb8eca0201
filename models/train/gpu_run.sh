#!/usr/bin/env bash
# One GPU step of the committed reader run, within a time budget (default 9 minutes):
# resume from the committed checkpoint, train on CUDA with every core but one
# rendering crops, export ONNX + the int8 screen + their cards, evaluate, and
# leave the checkpoint (with its plan and history) in OUT/run.
#
#   models/train/gpu_run.sh OUT [MINUTES]
#
# Environment: PY (python, default .venv/bin/python), RUN_FROM (the committed run,
# default models/train/reader48), DEVICE (default cuda), VERSION (the exported
# card's version, default 0.7.0-dev), REAL_DEV (labelled real photos for the
# evaluation, default ../shared/data/real-dev; evaluation only), WORKERS (render
# processes, default: cores - 1), RESERVE_S (seconds kept for export and
# evaluation, default 150), EVAL_SYNTHETIC (held-out crops, default 2000).
#
# To keep what it trained: copy OUT/run/{plan.json,history.json,ckpt.pt} over
# RUN_FROM and commit them (stop a CPU run of the same plan first, then resume it
# from the copied checkpoint). OUT/models holds the exported reader to compare
# with the shipped one (OUT/eval-reader.json).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 OUT [MINUTES]" >&2
    exit 2
fi
OUT=$1
MINUTES=${2:-9}
PY=${PY:-.venv/bin/python}
RUN_FROM=${RUN_FROM:-models/train/reader48}
DEVICE=${DEVICE:-cuda}
VERSION=${VERSION:-0.7.0-dev}
REAL_DEV=${REAL_DEV:-../shared/data/real-dev}
WORKERS=${WORKERS:-$(($(nproc) - 1))}
RESERVE_S=${RESERVE_S:-150}
EVAL_SYNTHETIC=${EVAL_SYNTHETIC:-2000}
START=$(date +%s)

for f in plan.json history.json ckpt.pt; do
    if [ ! -f "$RUN_FROM/$f" ]; then
        echo "error: $RUN_FROM/$f missing: nothing to resume" >&2
        exit 2
    fi
done
mkdir -p "$OUT"
RUN=$OUT/run
if [ ! -f "$RUN/ckpt.pt" ]; then # a second call with the same OUT goes on from its own run
    mkdir -p "$RUN"
    cp "$RUN_FROM/plan.json" "$RUN_FROM/history.json" "$RUN_FROM/ckpt.pt" "$RUN/"
fi

# Training stops in time to leave the reserve for export and evaluation; the
# start-up (CUDA, spawning the render workers) counts against it.
stop_at=$((START + MINUTES * 60 - RESERVE_S))
if [ $((stop_at - $(date +%s))) -lt 30 ]; then
    echo "error: $MINUTES minutes leave no time to train after a ${RESERVE_S} s reserve" >&2
    exit 2
fi
echo "training on $DEVICE with $WORKERS render workers until $(date -d "@$stop_at" +%T)" >&2
"$PY" -m models.train.run train "$RUN" --resume --device "$DEVICE" --workers "$WORKERS" \
    --threads 2 --stop-at "$stop_at" --ckpt-minutes 3 --log-every 500 |
    tee "$OUT/train.log"

# Export: reader.onnx, its int8 screen and both cards; the figures come next.
"$PY" -m models.train.run export "$RUN" --out "$OUT/models" --version "$VERSION" --no-metrics |
    tee "$OUT/export.log"

# Evaluate the float reader and its screen, one thread each, side by side.
mkdir -p "$OUT/eval-reader" "$OUT/eval-reader-int8"
eval_args=(--synthetic "$EVAL_SYNTHETIC" --real-dev "$REAL_DEV")
"$PY" -m simulator eval reader --card "$OUT/models/reader.card.json" "${eval_args[@]}" \
    --out "$OUT/eval-reader" >"$OUT/eval-reader.json" &
float_pid=$!
"$PY" -m simulator eval reader --card "$OUT/models/reader-int8.card.json" "${eval_args[@]}" \
    --out "$OUT/eval-reader-int8" >"$OUT/eval-reader-int8.json" &
int8_pid=$!
wait "$float_pid"
wait "$int8_pid"
"$PY" -m models.train.run status "$RUN" >"$OUT/status.json"
echo "done in $(($(date +%s) - START)) s: checkpoint $RUN/ckpt.pt, models $OUT/models," \
    "figures $OUT/eval-reader.json and $OUT/eval-reader-int8.json" >&2
