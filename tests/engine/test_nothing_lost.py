"""Nothing lost: `run --out`, `eval --out` and `validate --records` stream each finished problem to
FILE.partial, a failed or killed run keeps every finished one, and `--resume` completes it without asking the
server again for problems already on disk (requests counted at a fake OpenAI server, tests/fake_openai.py)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fake_openai import FakeOpenAI, dataset, wait_until
from planner import cli

ROOT = Path(__file__).resolve().parents[2]


def main(capsys, *args):
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    """The error line: exactly one, the last thing on stderr (progress notes may come before it), no traceback."""
    lines = err.strip().splitlines()
    errors = [x for x in lines if x.startswith("planner: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


def lines_of(path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines()]


def run_args(url, data, out, *extra):
    return ["run", "--backend", "openai", "--url", url, "--server-model", "m", "--dataset", data, "-n", "2",
            "--out", out, "--quiet", *extra]


def test_kill_9_keeps_every_finished_problem_and_resume_does_not_redo_them(tmp_path):
    data, out = dataset(tmp_path / "d.jsonl", 8), tmp_path / "r.jsonl"
    partial = Path(str(out) + ".partial")
    with FakeOpenAI(delay_s=0.25) as fake:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "planner", *run_args(fake.url, data, out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert wait_until(lambda: partial.exists() and partial.read_text().count("\n") >= 3, 60), \
                proc.communicate(timeout=5)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        kept = lines_of(partial)                      # every line a whole JSON record
        assert 3 <= len(kept) < 8 and not out.exists()
        ids = [r["problem_id"] for r in kept]
        assert ids == [f"p{i}" for i in range(len(kept))]
        assert all(r["correct"] is True and r["answer"] == r["reference"] for r in kept)
        asked_before = dict(fake.posts)
        assert all(asked_before[i] == 1 for i in range(len(kept)))

        rc = subprocess.run([sys.executable, "-m", "planner", *run_args(fake.url, data, out, "--resume")],
                            env=env, capture_output=True, text=True, timeout=120)
        assert rc.returncode == 0, rc.stderr
        assert f"resuming: {len(kept)} of 8 problems already done" in rc.stderr
        final = lines_of(out)
        assert [r["problem_id"] for r in final] == [f"p{i}" for i in range(8)]
        assert final[:len(kept)] == kept                # the finished records, untouched
        assert not partial.exists()
        for i in range(8):                              # no finished problem asked twice
            assert fake.posts[i] == (1 if i < len(kept) else asked_before.get(i, 0) + 1), (i, fake.posts)
        assert "8 problems; accuracy 100.0%" in rc.stdout


def test_sigterm_says_how_to_resume(tmp_path):
    data, out = dataset(tmp_path / "d.jsonl", 6), tmp_path / "r.jsonl"
    partial = Path(str(out) + ".partial")
    with FakeOpenAI(delay_s=0.3) as fake:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "planner", *run_args(fake.url, data, out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_until(lambda: partial.exists() and partial.read_text().count("\n") >= 2, 60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 143 and "Traceback" not in err, err
        n = len(lines_of(partial))
        assert f"planner run: {n} of 6 problems finished and saved in {partial}; rerun the same command with " \
               "--resume to finish" in err and err.strip().endswith("planner: terminated")


def test_server_dying_mid_run_keeps_finished_and_resume_completes(tmp_path, capsys):
    data, out = dataset(tmp_path / "d.jsonl", 5), tmp_path / "r.jsonl"
    with FakeOpenAI(mode="die_mid_stream") as fake:
        fake.ok_after = 2                               # two problems answered, then the engine dies mid-stream
        rc, _, err = main(capsys, *run_args(fake.url, data, out))
        line = one_line(err)
        assert rc == 2 and fake.url in line and "did the server die?" in line
        assert f"2 of 5 problems finished and saved in {out}.partial" in line and "--resume" in line
        assert [r["problem_id"] for r in lines_of(str(out) + ".partial")] == ["p0", "p1"]
        assert not out.exists()

        fake.mode, fake.ok_after = "ok", None           # the server is back
        rc, stdout, err = main(capsys, *run_args(fake.url, data, out, "--resume"))
        assert rc == 0, err
        assert [r["problem_id"] for r in lines_of(out)] == [f"p{i}" for i in range(5)]
        assert [fake.posts[i] for i in range(5)] == [1, 1, 2, 1, 1]   # p2 failed once, nothing else redone


def test_partial_is_never_overwritten_without_resume(tmp_path, capsys):
    data, out = dataset(tmp_path / "d.jsonl", 3), tmp_path / "r.jsonl"
    Path(str(out) + ".partial").write_text(json.dumps({"problem_id": "p0"}) + "\n")
    with FakeOpenAI() as fake:
        rc, _, err = main(capsys, *run_args(fake.url, data, out))
        assert rc == 2 and "holds 1 finished problems of an interrupted run: pass --resume" in one_line(err)
        assert fake.total_posts == 0


def test_resume_refuses_records_of_other_settings(tmp_path, capsys):
    data, out = dataset(tmp_path / "d.jsonl", 2), tmp_path / "r.jsonl"
    with FakeOpenAI() as fake:
        assert main(capsys, *run_args(fake.url, data, out))[0] == 0
        rc, _, err = main(capsys, *run_args(fake.url, data, out, "--resume", "-n", "3"))
        assert rc == 2 and "branches 2 -> 3" in one_line(err)
        assert fake.total_posts == 2


def test_resume_extends_a_complete_file(tmp_path, capsys):
    data, out = dataset(tmp_path / "d.jsonl", 4), tmp_path / "r.jsonl"
    with FakeOpenAI() as fake:
        assert main(capsys, *run_args(fake.url, data, out, "--limit", "2"))[0] == 0
        first = lines_of(out)
        os.chmod(out, 0o640)
        assert main(capsys, *run_args(fake.url, data, out, "--resume"))[0] == 0
        final = lines_of(out)
        assert final[:2] == first and [r["problem_id"] for r in final[2:]] == ["p2", "p3"]
        assert [fake.posts[i] for i in range(4)] == [1, 1, 1, 1]
        assert (out.stat().st_mode & 0o777) == 0o640     # the replaced file keeps its mode


def test_truncated_last_line_is_dropped_on_resume(tmp_path, capsys):
    """A kill between write() calls can leave half a line: resume drops it and redoes only that problem."""
    data, out = dataset(tmp_path / "d.jsonl", 3), tmp_path / "r.jsonl"
    with FakeOpenAI() as fake:
        assert main(capsys, *run_args(fake.url, data, out, "--limit", "1"))[0] == 0
        whole = out.read_text()
        Path(str(out) + ".partial").write_text(whole + whole[: len(whole) // 2].replace('"p0"', '"p1"'))
        out.unlink()
        assert main(capsys, *run_args(fake.url, data, out, "--resume"))[0] == 0
        assert [r["problem_id"] for r in lines_of(out)] == ["p0", "p1", "p2"]
        assert [fake.posts[i] for i in range(3)] == [1, 1, 1]


def test_missing_output_directory_fails_before_the_first_request(tmp_path, capsys):
    data = dataset(tmp_path / "d.jsonl", 2)
    with FakeOpenAI() as fake:
        for cmd in (run_args(fake.url, data, tmp_path / "nope" / "r.jsonl"),
                    ["eval", "--backend", "openai", "--url", fake.url, "--server-model", "m", "--dataset", data,
                     "-M", "2", "--out", tmp_path / "nope" / "b.jsonl", "--quiet"]):
            rc, _, err = main(capsys, *cmd)
            assert rc == 2 and "does not exist" in one_line(err) and "nope" in err
        assert fake.total_posts == 0 and fake.gets == 0


def test_eval_bank_resumes(tmp_path, capsys):
    data, out = dataset(tmp_path / "d.jsonl", 4), tmp_path / "bank.jsonl"
    cmd = ["eval", "--backend", "openai", "--url", None, "--server-model", "m", "--dataset", data, "-M", "3",
           "--out", out, "--quiet"]
    with FakeOpenAI(mode="http_500") as fake:
        fake.ok_after = 2
        cmd[4] = fake.url
        rc, _, err = main(capsys, *cmd)
        line = one_line(err)
        assert rc == 2 and "HTTP 500" in line and "engine dead" in line and "2 of 4 problems" in line
        bank = lines_of(str(out) + ".partial")
        assert [b["problem_id"] for b in bank] == ["p0", "p1"] and all(len(b["samples"]) == 3 for b in bank)
        fake.mode, fake.ok_after = "ok", None
        rc, stdout, err = main(capsys, *cmd, "--resume")
        assert rc == 0, err
        bank = lines_of(out)
        assert [b["problem_id"] for b in bank] == ["p0", "p1", "p2", "p3"]
        assert all(b["schema"] == "tts-bank/1" and all(s["correct"] for s in b["samples"]) for b in bank)
        assert "4 problems x 3 samples; accuracy per sample 100.0%, maj@3 100.0%" in stdout
        assert [fake.posts[i] for i in range(4)] == [1, 1, 2, 1]
        rc, _, err = main(capsys, *cmd[:-3], "--out", tmp_path / "b2.jsonl", "--quiet", "--resume", "-M", "5")
        assert rc == 0, err                             # nothing to resume from there: a fresh bank
        assert [len(b["samples"]) for b in lines_of(tmp_path / "b2.jsonl")] == [5] * 4
        rc, _, err = main(capsys, *cmd, "--resume", "-M", "5")   # the first bank has 3 samples per problem
        assert rc == 2 and "holds 3 samples per problem, not --samples 5" in one_line(err)


def test_validate_records_resume(tmp_path, capsys):
    plan_path = tmp_path / "plan.json"
    assert main(capsys, "recommend", "-p", ROOT / "tests" / "data" / "profile_test.json", "-d", "30s",
                "--max-branches", "2", "--max-draft-len", "0", "-o", plan_path)[0] == 0
    data, rec = dataset(tmp_path / "d.jsonl", 3), tmp_path / "recs.jsonl"
    cmd = ["validate", "--plan", plan_path, "--backend", "openai", "--url", None, "--server-model", "m",
           "--dataset", data, "--records", rec, "--quiet"]
    with FakeOpenAI(mode="refuse") as fake:
        fake.ok_after = 2
        cmd[6] = fake.url
        rc, _, err = main(capsys, *cmd)
        line = one_line(err)
        assert rc == 2 and fake.url in line and "2 of " in line and f"saved in {rec}.partial" in line
        kept = lines_of(str(rec) + ".partial")
        assert len(kept) == 2 and [r["problem_id"] for r in kept] == ["p0", "p1"]
        fake.mode, fake.ok_after = "ok", None
        before = fake.total_posts
        rc, out, err = main(capsys, *cmd, "--resume")
        assert rc == 0, err
        final = lines_of(rec)
        assert final[:2] == kept and len({(r["config"], r["problem_id"]) for r in final}) == len(final)
        assert len(final) % 3 == 0 and fake.total_posts - before == len(final) - 2   # one request per run, none redone
        assert not Path(str(rec) + ".partial").exists()


def test_device_calibration_keeps_raw_measurements_when_the_fit_fails(tmp_path, tiny_model_dir, monkeypatch,
                                                                       capsys):
    pytest.importorskip("torch")
    import planner.calibrate.device as D

    def broken_fit(*a, **k):
        raise np.linalg.LinAlgError("Singular matrix")
    monkeypatch.setattr(D, "fit_step", broken_fit)
    out = tmp_path / "tiny.json"
    rc, _, err = main(capsys, "calibrate", "--model", tiny_model_dir, "--cpu", "--quick", "--max-seconds", "12",
                      "--threads", "1", "--quiet", "-o", out)
    line = one_line(err)
    assert rc == 2, line
    assert "LinAlgError: Singular matrix" in line and f"raw measurements saved to {out}.partial.json" in line
    raw = json.loads(Path(str(out) + ".partial.json").read_text())
    assert raw["schema"] == "tts-device-partial/1" and not out.exists()
    assert len(raw["target_points"]) >= 3 and all(p["seconds"] > 0 for p in raw["target_points"])
    assert raw["prefill_points"] and raw["lengths"]["tokens"] and raw["bandwidth"]["read_GBps"] > 0
