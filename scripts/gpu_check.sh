#!/usr/bin/env bash
# GPU figures (issue 19 item 4): run on a machine with a CUDA device, from the repository root or anywhere.
#
#   scripts/gpu_check.sh            # CUDA tests + benchmark rows, ~10-20 min on one GPU
#   scripts/gpu_check.sh --quick    # smoke run: tests + small benchmark rows, nothing written under benchmarks/
#   PYTHON=/path/to/python scripts/gpu_check.sh
#
# Writes (full run):
#   benchmarks/tests_cuda.json        the CUDA-marked tests (pytest -m cuda): counts, failures, exit status
#   benchmarks/bench_fode_cuda.json   bench_fode.py --device cuda: fodeint (PECE, trapezoid sequential and
#                                     parallel=True) vs FDEint and the plain O(N^2) PECE up to N = 16384
#                                     (float64), --small-step (neural_fode step, N = 41), --parallel-grid
#   benchmarks/bench_spectral_cuda.json   bench_spectral.py --device cuda
# and the full log in benchmarks/gpu_check_cuda.log. The tests never depend on this script or a GPU.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
export WANDB_MODE=disabled

if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: torch sees no CUDA device ($("$PY" -c 'import torch; print(torch.__version__)')); nothing run" >&2
    exit 2
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(), '| torch', torch.__version__, '| CUDA', torch.version.cuda)"

mkdir -p benchmarks
LOG=benchmarks/gpu_check_cuda.log
OUT_DIR=benchmarks
if [ "$QUICK" = 1 ]; then
    OUT_DIR="$(mktemp -d)"
    LOG="$OUT_DIR/gpu_check_cuda.log"
    echo "quick run: results under $OUT_DIR"
fi
: > "$LOG"
failed=()

step() {  # step NAME COMMAND...: run, log, remember a failure and go on with the next step
    local name="$1"; shift
    echo "=== $name: $*" | tee -a "$LOG"
    local start=$SECONDS
    "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$LOG"
    [ "$rc" = 0 ] || failed+=("$name (exit $rc)")
}

# 1. the CUDA-marked tests (ops on CUDA vs CPU, fodeint and neural_fode on CUDA), with a JSON summary
step tests "$PY" -m pytest -q -m cuda tests/ -p no:cacheprovider --junitxml="$OUT_DIR/tests_cuda.xml"
"$PY" - "$OUT_DIR/tests_cuda.xml" "$OUT_DIR/tests_cuda.json" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
import torch
suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
cases = []
for case in suite.iter("testcase"):
    outcome = "passed"
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
    cases.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                  "seconds": float(case.get("time", 0))})
counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "error", "skipped")}
payload = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "counts": counts, "tests": cases}
with open(sys.argv[2], "w") as f:
    json.dump(payload, f, indent=2)
print("tests:", counts, "->", sys.argv[2])
EOF
rm -f "$OUT_DIR/tests_cuda.xml"

# 2. benchmark rows on the GPU (each writes or merges into its *_cuda.json)
FODE="$OUT_DIR/bench_fode_cuda.json"
if [ "$QUICK" = 1 ]; then
    step fode "$PY" scripts/bench_fode.py --device cuda --quick --out "$FODE"
    step fode-small-step "$PY" scripts/bench_fode.py --device cuda --small-step --quick --out "$FODE"
    step spectral "$PY" scripts/bench_spectral.py --device cuda --quick --out "$OUT_DIR/bench_spectral_cuda.json"
else
    step fode "$PY" scripts/bench_fode.py --device cuda --repeat 3 --out "$FODE"
    step fode-small-step "$PY" scripts/bench_fode.py --device cuda --small-step --out "$FODE"
    step fode-parallel-grid "$PY" scripts/bench_fode.py --device cuda --parallel-grid --out "$FODE"
    step spectral "$PY" scripts/bench_spectral.py --device cuda --out "$OUT_DIR/bench_spectral_cuda.json"
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "gpu_check.sh: failed steps: ${failed[*]} (log: $LOG)" >&2
    exit 1
fi
echo "gpu_check.sh: all steps passed; results in $OUT_DIR (log: $LOG)"
