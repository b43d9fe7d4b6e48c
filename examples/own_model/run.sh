#!/usr/bin/env bash
# Your own model and data, end to end: a generated 64x64 ImageFolder (make_images.py), the model in
# model.py trained by catdeploy's recipe with its own mean/std, quantized at W4A4, W2A4 and W2A2 with
# RTN and with QDrop (fast preset) + CAT, exported, verified bit-exact, evaluated, and the report of
# the run (RUN_DIR/report/report.html).
#     examples/own_model/run.sh RUN_DIR          (about 4 minutes on 2 cores)
set -euo pipefail
RUN=${1:?usage: run.sh RUN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
MODEL=$HERE/model.py:build
mkdir -p "$RUN"
python "$HERE/make_images.py" "$RUN/photos"
catdeploy train "$MODEL" --data "imagefolder:$RUN/photos/train" --input-size 64 \
    --mean 0.45,0.40,0.35 --std 0.22,0.24,0.26 --batch-size 30 --epochs 8 -o "$RUN/tiny.pt"
catdeploy eval "$MODEL" --weights "$RUN/tiny.pt" --data "imagefolder:$RUN/photos/test"
calibrate() { catdeploy calibrate "$MODEL" --weights "$RUN/tiny.pt" --data "imagefolder:$RUN/photos/train" --samples 512 "$@"; }
calibrate --bits w4a4 -o "$RUN/w4a4_rtn.qg"
calibrate --bits w2a4 -o "$RUN/w2a4_rtn.qg"
calibrate --bits w2a2 -o "$RUN/w2a2_rtn.qg"
calibrate --bits w2a4 --method qdrop --preset fast --cat -o "$RUN/w2a4_qdrop_cat.qg"
calibrate --bits w2a2 --method qdrop --preset fast --cat -o "$RUN/w2a2_qdrop_cat.qg"
catdeploy export "$RUN/w2a4_qdrop_cat.qg" -o "$RUN/w2a4_qdrop_cat.tflite" \
    --report "$RUN/report" --report-data "imagefolder:$RUN/photos/test"
catdeploy verify "$RUN/w2a4_qdrop_cat.tflite" --data "imagefolder:$RUN/photos/test" --samples 64
catdeploy eval "$RUN/w2a4_qdrop_cat.tflite" --data "imagefolder:$RUN/photos/test"
