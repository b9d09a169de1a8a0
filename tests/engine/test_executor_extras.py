"""Without the engine extra, the commands that run a model say what to install in one line (exit 2) instead of
dying with a ModuleNotFoundError traceback; the same for `--plot` without matplotlib. A missing module is
simulated with sys.modules[name] = None, which is what Python itself treats as "not importable"."""

from __future__ import annotations

import json
import sys

import pytest

from planner.cli import main
from planner.errors import PlannerError, require_extra


@pytest.fixture
def no_torch(monkeypatch):
    for name in ("torch", "transformers"):
        monkeypatch.setitem(sys.modules, name, None)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: error:"), err
    return err[0]


@pytest.fixture
def dataset(tmp_path):
    f = tmp_path / "tiny.jsonl"
    f.write_text(json.dumps({"problem": "1+1=", "answer": "2", "unique_id": "p0"}) + "\n")
    return f


@pytest.mark.parametrize("argv", [
    ["run", "--model", "smollm2-135m", "--prompt", "1+1="],
    ["eval", "--model", "smollm2-135m", "--dataset", "DATASET", "--out", "OUT"],
    ["validate", "--profile", "cpu-smollm2-135m", "--deadline", "600s", "--model", "smollm2-135m",
     "--dataset", "DATASET", "--max-branches", "2", "--max-draft-len", "0"],
])
def test_local_backend_without_engine_extra_is_one_line(argv, no_torch, dataset, tmp_path, capsys):
    out = tmp_path / "bank.jsonl"
    argv = [str(dataset) if a == "DATASET" else str(out) if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert f"the local backend of planner {argv[0]} needs the engine extra" in line
    assert "torch" in line and 'pip install ".[engine]"' in line and 'pip install "tts-planner[engine]"' in line
    assert not out.exists()


def test_only_the_missing_modules_are_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(PlannerError) as e:
        require_extra(("json", "transformers"), purpose="x")
    assert "(transformers not installed)" in str(e.value)
    require_extra(("json", "math"))  # present: no error


def test_preset_model_also_needs_gguf(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gguf", None)
    assert main(["run", "--model", "smollm2-135m", "--prompt", "1+1="]) == 2
    assert "(gguf not installed)" in _one_error_line(capsys)


def test_plot_hint_names_an_installable_thing(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    from planner.plot import plot_front

    with pytest.raises(PlannerError) as e:
        plot_front(None, [], None, None, "front.png")
    msg = str(e.value)
    assert msg.startswith("--plot needs the plot extra (matplotlib not installed)")
    assert 'pip install ".[plot]"' in msg and "pip install matplotlib" in msg and "tts-planner[plot]" not in msg
