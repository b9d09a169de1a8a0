"""A non-editable install, run from another directory, finds the shipped profiles and never imports torch; the
wheel holds only the `planner` package (with the miniworld weights as package data), not tools/, bench/ or a
top-level `calibrate`."""

import os
import zipfile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_install_from_other_directory(tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("tts_planner-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"planner", wheel.name.split("-py3")[0] + ".dist-info"}
    for weights in ("target", "draft"):
        assert f"planner/demo/miniworld/weights/{weights}/model.safetensors" in names
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (site / "planner" / "_profiles" / "h100-sxm-qwen2.5-7b.json").is_file()
    code = ("import sys, planner.cli as c; rc = c.main(['recommend', '--deadline', '60s']); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules and 'transformers' not in sys.modules; "
            "import planner; print('FROM', planner.__file__)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    r = subprocess.run([sys.executable, "-c", code], cwd=run_dir, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Plan for Qwen2.5-7B-Instruct" in r.stdout
    assert f"FROM {site}" in r.stdout  # the installed copy, not the source tree
    # installed: the weights as package data, where the demo looks for them; no other top-level package
    assert (site / "planner" / "demo" / "miniworld" / "weights" / "target" / "model.safetensors").is_file()
    assert not any((site / name).exists() for name in ("calibrate", "tools", "bench"))
