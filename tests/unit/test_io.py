"""Safe replacement and strict reading: each behaviour is checked on the file system (modes, links, temp files,
a real SIGTERM/SIGINT mid-write), and each failure is one PlannerError line that names the path."""

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from planner.errors import PlannerError
from planner.io import (atomic_write_bundle, atomic_write_json, atomic_write_text, content_name, iter_jsonl,
                        read_json, read_text)


def names(d):
    return sorted(p.name for p in d.iterdir())


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    f = tmp_path / "a.json"
    atomic_write_json(f, {"x": 1})
    atomic_write_json(f, {"x": 2})
    assert json.loads(f.read_text()) == {"x": 2}
    assert names(tmp_path) == ["a.json"]


def test_atomic_write_errors(tmp_path):
    with pytest.raises(PlannerError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "a.txt", "x")
    with pytest.raises(PlannerError, match="is a directory"):
        atomic_write_text(tmp_path, "x")


def test_special_files_are_written_not_replaced():
    atomic_write_text("/dev/null", "hello")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("mode", [0o640, 0o600, 0o755, 0o604])
def test_rewrite_keeps_the_mode(tmp_path, mode):
    f = tmp_path / "keep.txt"
    f.write_text("old")
    f.chmod(mode)
    atomic_write_text(f, "new")
    assert f.read_text() == "new"
    assert stat.S_IMODE(f.stat().st_mode) == mode


@pytest.mark.parametrize("umask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_respects_umask(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == expected


def test_symlink_is_written_through(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "profile.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_json(link, {"v": 2})
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text()) == {"v": 2}
    assert names(tmp_path / "real") == ["profile.json"]


def test_read_only_target_is_refused_and_untouched(tmp_path):
    f = tmp_path / "ro.txt"
    f.write_text("precious")
    f.chmod(0o444)
    with pytest.raises(PlannerError, match=r"ro.txt: the file is read-only \(chmod u\+w"):
        atomic_write_text(f, "clobber")
    assert f.read_text() == "precious" and names(tmp_path) == ["ro.txt"]


def test_file_and_directory_are_fsynced(tmp_path, monkeypatch):
    kinds = []
    real = os.fsync

    def spy(fd):
        kinds.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)
    monkeypatch.setattr(os, "fsync", spy)
    atomic_write_text(tmp_path / "a.txt", "x")
    assert kinds == ["file", "dir"]


@pytest.mark.parametrize("code,hint", [(errno.ENOSPC, "free some space"), (errno.EFBIG, "ulimit -f"),
                                       (errno.EIO, "")])
def test_write_errors_are_one_line_and_keep_the_old_file(tmp_path, monkeypatch, code, hint):
    f = tmp_path / "a.txt"
    f.write_text("old")

    def boom(fd):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(PlannerError, match=f"cannot write {f}: {os.strerror(code)}.*{hint}"):
        atomic_write_text(f, "new")
    assert f.read_text() == "old" and names(tmp_path) == ["a.txt"]


def test_long_name_gets_a_short_temp_name(tmp_path):
    f = tmp_path / ("n" * 250)
    atomic_write_text(f, "x")
    assert f.read_text() == "x" and names(tmp_path) == [f.name]
    with pytest.raises(PlannerError, match="File name too long"):
        atomic_write_text(tmp_path / ("n" * 300), "x")


def test_nan_is_never_written(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"ok": 1}')
    with pytest.raises(PlannerError, match=r"step\.target\.tflops\[1\] is not a finite number"):
        atomic_write_json(f, {"step": {"target": {"tflops": [1.0, float("nan")]}}})
    with pytest.raises(PlannerError, match="inf_here is not a finite number"):
        atomic_write_json(f, {"a": 1, "inf_here": float("-inf")})
    assert f.read_text() == '{"ok": 1}' and names(tmp_path) == ["p.json"]


_KILL_CHILD = textwrap.dedent("""
    import os, sys, time
    import planner.io as io
    real = os.fsync
    def stall(fd):
        real(fd)
        print("writing", flush=True)
        time.sleep(60)
    os.fsync = stall
    io.atomic_write_text(sys.argv[1], "new content")
""")


@pytest.mark.parametrize("sig,rc", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGHUP, 128 + signal.SIGHUP),
                                    (signal.SIGINT, -signal.SIGINT)])
def test_signal_mid_write_leaves_no_temp_and_the_old_file(tmp_path, sig, rc):
    f = tmp_path / "target.txt"
    f.write_text("old content")
    p = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(f)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "writing\n"  # the temp file exists and is fsynced now: deterministic point
    assert any(n.endswith(".tmp") for n in names(tmp_path))
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == rc, err
    assert names(tmp_path) == ["target.txt"] and f.read_text() == "old content"


def test_bundle_writes_parts_first_and_removes_stale(tmp_path):
    prof = tmp_path / "m.json"
    bank1 = '{"a": 1}\n'
    n1 = content_name("m", bank1, ".bank.jsonl")
    assert n1 == "m." + __import__("hashlib").sha256(bank1.encode()).hexdigest()[:16] + ".bank.jsonl"
    atomic_write_bundle(prof, json.dumps({"bank": n1}), {n1: bank1})
    assert names(tmp_path) == sorted(["m.json", n1])
    bank2 = '{"a": 2}\n'
    n2 = content_name("m", bank2, ".bank.jsonl")
    assert n2 != n1
    atomic_write_bundle(prof, json.dumps({"bank": n2}), {n2: bank2}, stale=[n1])
    assert names(tmp_path) == sorted(["m.json", n2])
    assert (tmp_path / json.loads(prof.read_text())["bank"]).read_text() == bank2


def test_bundle_crash_before_the_profile_keeps_the_old_pair(tmp_path, monkeypatch):
    prof = tmp_path / "m.json"
    n1 = content_name("m", "old\n", ".jsonl")
    atomic_write_bundle(prof, json.dumps({"bank": n1}), {n1: "old\n"})
    import planner.io as io
    real = io.atomic_write_text

    def fail_on_profile(path, text):
        if str(path).endswith("m.json"):
            raise PlannerError("disk full")
        return real(path, text)
    monkeypatch.setattr(io, "atomic_write_text", fail_on_profile)
    n2 = content_name("m", "new\n", ".jsonl")
    with pytest.raises(PlannerError, match="disk full"):
        atomic_write_bundle(prof, json.dumps({"bank": n2}), {n2: "new\n"}, stale=[n1])
    bank = json.loads(prof.read_text())["bank"]
    assert bank == n1 and (tmp_path / bank).read_text() == "old\n"  # old profile still names an existing bank
    with pytest.raises(PlannerError, match="plain file name"):
        atomic_write_bundle(prof, "{}", {"../x": "y"})


def test_read_errors_say_what_the_path_is(tmp_path):
    with pytest.raises(PlannerError, match="plan not found"):
        read_json(tmp_path / "x.json", "plan")
    with pytest.raises(PlannerError, match=f"profile {tmp_path} is a directory, not a file"):
        read_json(tmp_path, "profile")
    with pytest.raises(PlannerError, match="profile /dev/null is a character device, not a file"):
        read_json("/dev/null", "profile")
    (tmp_path / "e.json").write_text(" \n")
    with pytest.raises(PlannerError, match="is empty"):
        read_json(tmp_path / "e.json", "profile")
    (tmp_path / "big.json").write_text("[" + "1," * 600 + "1]")
    with pytest.raises(PlannerError, match="larger than|MiB"):
        read_text(tmp_path / "big.json", "plan", max_bytes=1000)
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(PlannerError, match=r"is not UTF-8 text \(byte 7\)"):
        read_json(tmp_path / "latin.json", "profile")


@pytest.mark.parametrize("text,needle", [
    ('{"a": NaN}', "NaN is not valid JSON"), ('{"a": -Infinity}', "-Infinity is not valid JSON"),
    ('{"a": 1e999}', "overflows"), ('{"a": ' + "9" * 400 + "}", "absurdly large"),
    ('{"a": 1, "a": 2}', "duplicate key 'a'"), ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ("[" * 200000, "nested too deeply"), ('{"a": ', "line 1, column 7")])
def test_read_json_is_strict(tmp_path, text, needle):
    f = tmp_path / "p.json"
    f.write_text(text)
    with pytest.raises(PlannerError, match=needle):
        read_json(f, "profile")


def test_read_jsonl_errors(tmp_path):
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(PlannerError, match="line 3 is not valid JSON"):
        list(iter_jsonl(bad))
    bad.write_text('[1, 2]\n')
    with pytest.raises(PlannerError, match="line 1 is not a JSON object"):
        list(iter_jsonl(bad))
    bad.write_text('{"a": 1}\n{"n": NaN}\n')
    with pytest.raises(PlannerError, match="b.jsonl: line 2 is not valid JSON: NaN"):
        list(iter_jsonl(bad))
    bad.write_text('{"a": 1}\n' + '{"x": ' * 100 + "1" + "}" * 100 + "\n")
    with pytest.raises(PlannerError, match="line 2 is nested too deeply"):
        list(iter_jsonl(bad))
    bad.write_text('{"a": "' + "x" * 5000 + '"}\n')
    with pytest.raises(PlannerError, match="line 1 is longer than"):
        list(iter_jsonl(bad, max_line_bytes=1000))
    with pytest.raises(PlannerError, match="is a directory"):
        list(iter_jsonl(tmp_path))
    bad.write_text('{"a": 1}\n\n{"b": 2}')
    assert list(iter_jsonl(bad)) == [{"a": 1}, {"b": 2}]


def test_write_profile_writes_profile_and_bank_as_one_unit(tmp_path):
    """Every profile writer goes through write_profile: the bank under a content-addressed name, the profile
    naming it, and a rewrite removes the bank the old profile named (sidecars stay)."""
    from planner.profile import load_profile
    from planner.profile.writer import write_profile

    from pathlib import Path

    base = json.loads((Path(__file__).parents[2] / "profiles" / "h100-sxm-qwen2.5-7b.json").read_text())
    b1 = [{"problem_id": "a", "samples": [{"answer": "1", "correct": True, "num_tokens": 10}]}]
    b2 = [{"problem_id": "b", "samples": [{"answer": "2", "correct": False, "num_tokens": 12}]}]
    write_profile(dict(base), tmp_path / "p.json", b1, {"rounds.jsonl": "r\n"})
    first = json.loads((tmp_path / "p.json").read_text())["accuracy"]["path"]
    assert first.startswith("p.bank.") and (tmp_path / first).is_file()
    write_profile(dict(base), tmp_path / "p.json", b2)
    second = json.loads((tmp_path / "p.json").read_text())["accuracy"]["path"]
    assert second != first and not (tmp_path / first).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["p.json", second, "rounds.jsonl"])
    assert json.loads((tmp_path / second).read_text())["problem_id"] == "b"
    assert load_profile(str(tmp_path / "p.json")).accuracy.bank_path == second
