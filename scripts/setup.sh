#!/usr/bin/env bash
# Create (or reuse) .venv and install navfusion with the given extras; the CPU build of torch is
# installed first when no torch is present, so pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-python3}"
say() { echo "[setup $(date +%H:%M:%S)] $*"; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
. .venv/bin/activate
if ! python -c "import torch" >/dev/null 2>&1; then
  # On the project's machines this release is the CPU build kept on local disk.
  say "installing torch 2.13.0 (CPU build; about a minute)"
  python -m pip install -q "torch==2.13.0"
fi
say "installing navfusion${EXTRAS:+[$EXTRAS]} and its dependencies (about a minute on a first install)"
if [ -n "$EXTRAS" ]; then
  python -m pip install -q -e ".[$EXTRAS]"
else
  python -m pip install -q -e .
fi
say "done: .venv/bin/navfusion is ready (or 'source .venv/bin/activate' to call navfusion directly)"
