#!/usr/bin/env bash
# One device call for a session that is lent a GPU (the `device` tool's nvidia-h200): the measurements
# that issues 4-6 left blocked, in one command of about 5-7 minutes. Prepared on a CPU machine; the CPU
# path (`DEVICE=cpu bash benchmarks/gpu_session.sh`) runs end to end, but the CUDA path has not yet run on
# a GPU.
#
# What it writes to $OUT:
#   measure-<device>.jsonl     `infersim measure --quick`: copies, GEMMs, attention, the tiny-layer
#                              framework-overhead probe (op_overhead: host seconds per kernel in Hugging
#                              Face eager), whole Llama/Mixtral models in eager and CUDA-graph modes
#   calibrated-<device>.yaml   `infersim calibrate` on that file's microbenchmarks only
#   validate-<device>.json     `infersim validate --measured` of the whole-model rows on the calibrated
#                              device (held out: the fit never sees them)
#   log.txt                    everything printed
#
# The image there has PyTorch, transformers, numpy, typer, rich and PyYAML, but not pydantic. Before the
# call, fetch its wheels here (Python 3.12, as the image has), in the repo root:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       pydantic==2.11.7 pydantic-core==2.33.2 annotated-types==0.7.0 typing-inspection==0.4.1
# and run:  run(command="bash benchmarks/gpu_session.sh", carry=[".whl"], timeout_s=540)
set -uo pipefail
OUT=${OUT:-/tmp/infersim-gpu-session}
DEVICE=${DEVICE:-cuda}
CATALOG_DEVICE=${CATALOG_DEVICE:-h200}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
if ! python3 -c "import pydantic" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "pydantic is missing and no wheels were carried (see the header)"; exit 2; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
infersim() { python3 -c "from infersim.cli import main; main()" "$@"; }

date -u
if [ "$DEVICE" = cuda ]; then nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; fi
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"

measured="$OUT/measure-$DEVICE.jsonl"
timeout 360 bash -c "$(declare -f infersim); infersim measure --quick --device $DEVICE --out $measured" \
  || echo "measure stopped early (rc $?): the rows written so far are kept"
calibrated="$OUT/calibrated-$DEVICE.yaml"
if [ "$DEVICE" = cuda ]; then
  infersim calibrate "$measured" --device "$CATALOG_DEVICE" --id "$CATALOG_DEVICE-measured" --out "$calibrated"
else
  infersim calibrate "$measured" --id local-cpu --out "$calibrated"
fi
infersim validate --measured "$measured" --device "$calibrated" --json > "$OUT/validate-$DEVICE.json"
python3 - "$OUT/validate-$DEVICE.json" "$(basename "$measured")" <<'EOF'
import json, statistics, sys
card, name = json.load(open(sys.argv[1])), sys.argv[2]
rows = [r for r in card["cases"] if r["case"].startswith(name) and r["status"] == "scored" and r["error"] is not None]
for category in sorted({r["category"] for r in rows}):
    errors = [abs(r["error"]) for r in rows if r["category"] == category]
    worst = max((r for r in rows if r["category"] == category), key=lambda r: abs(r["error"]))
    print(f"{category}: {len(errors)} rows, median |error| {statistics.median(errors):.1%}, "
          f"worst {worst['error']:+.1%} ({worst['case']})")
EOF
date -u
