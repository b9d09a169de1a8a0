"""The bad-input corpus: hostile or mistaken inputs on every surface the CLI reads (durations, flags, profile
JSON, config.json, plans, output paths, deep/NaN JSON) and unexpected failures inside a command. Each case
asserts the error contract: the exit code (2 bad input, 1 unexpected), exactly one stderr line starting
`planner: error:` that says what is wrong, and no traceback. Runs `planner.cli.main` in-process (fast)."""

import copy
import errno
import json
import os
from pathlib import Path

import pytest

from planner import cli

DATA = Path(__file__).parents[1] / "data"
PROFILE = json.loads((DATA / "profile_test.json").read_text())
HF_CONFIG = json.loads((DATA / "qwen2.5-7b-config.json").read_text())


def run(capsys, *args):
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_contract(rc, err, needle, code=2):
    lines = err.strip().splitlines()
    assert rc == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith("planner: error: "), err
    assert "Traceback" not in err
    assert needle in lines[0], lines[0]


# ---- durations -----------------------------------------------------------------------------------------------

DURATIONS = [
    ("soon", "cannot parse"), ("", "cannot parse"), ("abc", "cannot parse"), ("5 parsecs", "cannot parse"),
    ("nan", "cannot parse"), ("inf", "cannot parse"), ("NaN s", "cannot parse"), ("1e", "cannot parse"),
    (".", "cannot parse"), ("1..2s", "cannot parse"), ("e5", "cannot parse"), ("1_000", "cannot parse"),
    ("\u0663s", "cannot parse"), ("5s5s", "cannot parse"), ("0x10", "cannot parse"), ("10 ss", "cannot parse"),
    ("-5s", "must be positive"), ("-3", "must be positive"), ("-.5", "must be positive"), ("-inf", "cannot parse"),
    ("0", "must be positive"), ("0s", "must be positive"), ("0.000ms", "must be positive"),
    ("1e400", "out of range"), ("1e-9", "out of range"), ("9e9h", "out of range"), ("0.1us", "out of range"),
    ("1" * 20000, "20000 characters long"), ("9" * 65 + "s", "characters long"),
]


@pytest.mark.parametrize("text,needle", DURATIONS)
def test_bad_deadline(capsys, text, needle):
    rc, _, err = run(capsys, "recommend", "-p", DATA / "profile_test.json", "--deadline", text)
    assert_contract(rc, err, needle)


@pytest.mark.parametrize("cmd", [["predict", "-n", "2", "-d"], ["pareto", "--max-latency"], ["recommend", "-d"]])
def test_bad_deadline_on_every_command(capsys, cmd):
    rc, _, err = run(capsys, *cmd, "-7ms", "-p", DATA / "profile_test.json")
    assert_contract(rc, err, "must be positive")


# ---- flags ---------------------------------------------------------------------------------------------------

FLAGS = [
    (["recommend", "-d", "10s", "--quantile", "nan"], "--quantile"),
    (["recommend", "-d", "10s", "--quantile", "inf"], "--quantile"),
    (["recommend", "-d", "10s", "--quantile", "1.5"], "--quantile"),
    (["recommend", "-d", "10s", "--quantile", "0"], "--quantile"),
    (["recommend", "-d", "10s", "--quantile", "-0.5"], "--quantile"),
    (["recommend", "-d", "10s", "--quantile", "ninety"], "--quantile"),
    (["recommend", "-d", "10s", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["recommend", "-d"], "expected one argument"),
    (["frobnicate"], "invalid choice"),
    (["predict", "-n", "0"], "--branches"),
    (["predict", "-n", "-1"], "--branches"),
    (["predict", "-n", "1e9"], "--branches"),
    (["predict", "-n", "abc"], "--branches"),
    (["predict", "-n", "\u0663"], "--branches"),
    (["predict", "-n", "2.5"], "--branches"),
    (["predict", "-n", "2", "-k", "-1"], "--draft-len"),
    (["predict", "-n", "2", "-k", "99"], "--draft-len"),
    (["recommend", "-d", "10s", "--strategy", "optuna", "--trials", "0"], "--trials"),
    (["recommend", "-d", "10s", "--method", "vibes"], "vibes"),
    (["run", "--prompt", "hi", "--deadline", "10s", "--no-deadline"], "--deadline and --no-deadline contradict"),
    (["run", "--no-deadline", "--prompt", "hi", "-d", "1s"], "contradict"),
    (["profiles", "show", "no-such-profile"], "unknown profile 'no-such-profile'"),
    # GPU layouts (issue 20): zero GPUs, nodes that do not divide them, TP that divides neither heads nor GPUs
    (["recommend", "-d", "10s", "--gpus", "0"], "--gpus"),
    (["recommend", "-d", "10s", "--gpus", "-2"], "--gpus"),
    (["recommend", "-d", "10s", "--gpus", "8", "--nodes", "3"], "--nodes 3 does not divide --gpus 8"),
    (["recommend", "-d", "10s", "--nodes", "2"], "--nodes needs --gpus"),
    (["recommend", "-d", "10s", "--gpus", "4", "--concurrency", "3"], "--concurrency"),
    (["recommend", "-d", "10s", "--gpus", "4", "--strategy", "greedy"], "--strategy greedy"),
    (["predict", "-n", "4", "--gpus", "0"], "--gpus"),
    (["predict", "-n", "4", "--model-config", "qwen2.5-32b", "--gpu", "h100-sxm", "--tp", "4", "--gpus", "6"],
     "--tp 4 does not divide --gpus 6"),
    (["predict", "-n", "4", "--model-config", "qwen2.5-32b", "--gpu", "h100-sxm", "--tp", "3", "--gpus", "6"],
     "must divide the model's 40 attention heads"),
    (["predict", "-n", "4", "--model-config", "qwen2.5-32b", "--gpu", "l40s", "--tp", "8", "--gpus", "16",
      "--nodes", "4"], "no inter-node network is known"),
    # drafters and formats on a derived profile (issue 18; more in test_draft_flags.py)
    (["recommend", "-d", "10s", "--model-config", "llama-3.1-8b", "--gpu", "h100-sxm", "--draft", "medusa"],
     "--draft 'medusa': unknown draft kind"),
    (["predict", "-n", "4", "--model-config", "llama-3.1-8b", "--gpu", "h100-sxm", "--draft", "eagle3:x",
      "--acceptance", "0.9,1.1"], "alpha 1.1 at position 2 must lie in [0, 1]"),
    (["predict", "--tpot", "--model-config", "llama-3.1-8b", "--gpu", "h100-sxm", "--draft", "mtp",
      "--acceptance", "length=4.5@K3"], "acceptance length 4.5 at K=3 must lie in [1, 4]"),
    (["recommend", "-d", "10s", "--model-config", "qwen2.5-7b", "--gpu", "a10g", "--weight-dtype", "fp8"],
     "has no fp8 tensor cores"),
    (["recommend", "-d", "10s", "--model-config", "qwen2.5-7b", "--gpu", "h100-sxm", "--tp", "3"],
     "--tp 3: must divide the model's 28 attention heads"),
]


@pytest.mark.parametrize("args,needle", FLAGS)
def test_bad_flag(capsys, args, needle):
    rc, _, err = run(capsys, *args)
    assert_contract(rc, err, needle)


# ---- profile files -------------------------------------------------------------------------------------------

GONE = KeyError  # as a value: "delete this field"


def edited(d: dict, path: str, value) -> dict:
    """A deep copy of `d` with the dotted `path` set to `value` (or deleted, for GONE)."""
    d = copy.deepcopy(d)
    *parents, last = path.split(".")
    node = d
    for k in parents:
        node = node[k]
    if value is GONE:
        del node[last]
    else:
        node[last] = value
    return d


def _mutated(path: str, value):
    return json.dumps(edited(PROFILE, path, value))


PROFILE_FIELDS = [
    ("hardware.memory_GB", "lots"), ("hardware.memory_GB", True), ("hardware.memory_GB", -1),
    ("hardware.memory_GB", 0), ("hardware.memory_GB", 1e300), ("hardware.memory_GB", KeyError),
    ("hardware.mem_bw_GBps", 0), ("hardware.mem_bw_GBps", -5), ("hardware.mem_bw_GBps", [1]),
    ("hardware.gpus", 0), ("hardware.gpus", True), ("hardware.gpus", 1.5),
    ("model.layers", 0), ("model.layers", -1), ("model.layers", 1.5), ("model.layers", True),
    ("model.layers", "32"), ("model.layers", 1e20), ("model.params", 0), ("model.heads", 0),
    ("model.name", 7), ("model.name", ""), ("hardware", "h100"), ("model", KeyError), ("schema", "tts-profile/9"),
]


@pytest.mark.parametrize("field,value", PROFILE_FIELDS)
def test_bad_profile_field(capsys, tmp_path, field, value):
    f = tmp_path / "p.json"
    f.write_text(_mutated(field, value))
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", f)
    assert_contract(rc, err, field.split(".")[-1])


RAW_PROFILES = [
    ('{"schema": NaN}', "NaN is not valid JSON"),
    (json.dumps(PROFILE).replace('"memory_GB": 80', '"memory_GB": Infinity'), "Infinity is not valid JSON"),
    (json.dumps(PROFILE).replace('"memory_GB": 80', '"memory_GB": -Infinity'), "-Infinity is not valid JSON"),
    (json.dumps(PROFILE).replace('"memory_GB": 80', '"memory_GB": 1e999'), "overflows"),
    (json.dumps(PROFILE).replace('"memory_GB": 80', '"memory_GB": ' + "9" * 5000), "absurdly large"),
    (json.dumps(PROFILE).replace('"memory_GB": 80', '"memory_GB": 80, "memory_GB": 8'), "duplicate key"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"a": ' * 70 + "1" + "}" * 70, "nested too deeply"),
    ("", "is empty"), ("   \n", "is empty"), ("[]", "must be a JSON object"), ('"profile"', "must be a JSON object"),
    ('{"schema": "tts-profile/1", ', "not valid JSON"), ("\x00\x01\x02", "not valid JSON"),
]


@pytest.mark.parametrize("text,needle", RAW_PROFILES)
def test_bad_profile_text(capsys, tmp_path, text, needle):
    f = tmp_path / "p.json"
    f.write_text(text)
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", f)
    assert_contract(rc, err, needle)


def test_profile_not_utf8(capsys, tmp_path):
    f = tmp_path / "p.json"
    f.write_bytes(b'{"schema": "\xff\xfe"}')
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", f)
    assert_contract(rc, err, "is not UTF-8 text")


@pytest.mark.parametrize("where,needle", [
    ("/dev/null", "/dev/null is a character device, not a file"), ("DIR", "is a directory, not a file"),
    ("MISSING", "profile file not found"), ("", "expected a shipped name or a JSON file path"),
    ("x" * 300, "File name too long"), ("y" * 252, "unknown profile")])
def test_profile_path_says_what_it_is(capsys, tmp_path, where, needle):
    where = {"DIR": str(tmp_path), "MISSING": str(tmp_path / "nope.json")}.get(where, where)
    rc, _, err = run(capsys, "recommend", "-d", "10s", "-p", where)
    assert_contract(rc, err, needle)


# ---- config.json ---------------------------------------------------------------------------------------------

HF_FIELDS = [
    ("hidden_size", 0), ("hidden_size", -3584), ("hidden_size", "3584"), ("hidden_size", True),
    ("hidden_size", 3584.5), ("hidden_size", 1 << 40), ("num_hidden_layers", 0),
    ("num_hidden_layers", -28), ("num_hidden_layers", None), ("num_attention_heads", 0),
    ("num_attention_heads", 5), ("num_attention_heads", 10**6), ("num_key_value_heads", 0),
    ("num_key_value_heads", 3), ("num_key_value_heads", 56), ("vocab_size", "big"), ("vocab_size", [152064]),
    ("intermediate_size", -1), ("head_dim", 0), ("max_position_embeddings", 0), ("max_position_embeddings", 1e30),
    ("tie_word_embeddings", "false"), ("attention_bias", 1), ("torch_dtype", 16), ("_name_or_path", 3),
    ("text_config", "qwen"),
]


@pytest.mark.parametrize("field,value", HF_FIELDS)
def test_bad_config_json_field(capsys, tmp_path, field, value):
    cfg = dict(HF_CONFIG, **{field: value})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    rc, _, err = run(capsys, "recommend", "-d", "10s", "--model-config", tmp_path, "--gpu", "h100-sxm")
    needle = "num_hidden_layers" if value is None else field
    assert_contract(rc, err, needle)


@pytest.mark.parametrize("text,needle", [
    ('{"hidden_size": NaN}', "NaN"), ('{"hidden_size": Infinity}', "Infinity"), ("[1, 2]", "not a JSON object"),
    ("{" * 3, "not valid JSON"), ('{"x": ' * 80 + "1" + "}" * 80, "nested too deeply"), ("", "is empty")])
def test_bad_config_json_text(capsys, tmp_path, text, needle):
    (tmp_path / "config.json").write_text(text)
    rc, _, err = run(capsys, "recommend", "-d", "10s", "--model-config", tmp_path / "config.json", "--gpu", "h100-sxm")
    assert_contract(rc, err, needle)


def test_config_json_field_inside_text_config(capsys, tmp_path):
    cfg = {"text_config": dict(HF_CONFIG, num_attention_heads=-1)}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    rc, _, err = run(capsys, "recommend", "-d", "10s", "--model-config", tmp_path, "--gpu", "h100-sxm")
    assert_contract(rc, err, "text_config.num_attention_heads: must be an integer in [1, 65536], got -1")


# ---- plans and output paths ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plan_text(tmp_path_factory):
    f = tmp_path_factory.mktemp("plan") / "plan.json"
    assert cli.main(["recommend", "-d", "10s", "-p", str(DATA / "profile_test.json"), "--json", "-o", str(f)]) == 0
    return f.read_text()


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.replace('"schema"', '"schema": NaN, "x"', 1), "NaN is not valid JSON"),
    (lambda t: "[" * 10000 + t + "]" * 10000, "nested too deeply"),
    (lambda t: t[: len(t) // 2], "not valid JSON"),
    (lambda t: t.replace("{", '{"schema": 1, ', 1), "duplicate key 'schema'"),
    (lambda t: "", "is empty")])
@pytest.mark.slow
def test_bad_plan_file(capsys, tmp_path, plan_text, edit, needle):
    f = tmp_path / "plan.json"
    f.write_text(edit(plan_text))
    rc, _, err = run(capsys, "export", f, "--engine", "vllm", "--served-model", "org/m")
    assert_contract(rc, err, needle)


@pytest.mark.parametrize("out,needle", [
    ("MISSING/x.txt", "does not exist"), ("DIR", "directory"), ("RO", "read-only"),
    ("/dev/full", "No space left on device"), ("n" * 300, "File name too long")])
def test_bad_output_path(capsys, tmp_path, plan_text, out, needle):
    plan = tmp_path / "plan.json"
    plan.write_text(plan_text)
    ro = tmp_path / "ro.txt"
    ro.write_text("keep")
    ro.chmod(0o444)
    out = {"MISSING/x.txt": tmp_path / "missing" / "x.txt", "DIR": tmp_path, "RO": ro,
           "n" * 300: tmp_path / ("n" * 300)}.get(out, out)
    rc, _, err = run(capsys, "export", plan, "--engine", "vllm", "--served-model", "org/m", "-o", out)
    assert_contract(rc, err, needle)
    assert ro.read_text() == "keep"


# ---- unexpected failures inside a command: the last resort ---------------------------------------------------

@pytest.mark.parametrize("exc,code,needle", [
    (ValueError("boom"), 1, "unexpected ValueError: boom (a bug: please report it); rerun with --debug"),
    (KeyError("k"), 1, "unexpected KeyError"), (ZeroDivisionError("division by zero"), 1, "ZeroDivisionError"),
    (RecursionError("deep"), 1, "nested too deeply (RecursionError)"), (MemoryError(), 1, "out of memory"),
    (AssertionError("multi\nline\nmessage"), 1, "multi line message"),
    (OSError(errno.ENOSPC, "No space left on device", "out.jsonl"), 2, "cannot write out.jsonl: No space left"),
    (OSError(errno.EFBIG, "File too large"), 2, "ulimit -f"), (OSError(errno.EROFS, "Read-only file system"), 2,
                                                                "Read-only file system")])
def test_last_resort(capsys, monkeypatch, exc, code, needle):
    import planner.commands.profiles as profiles

    def explode(args):
        raise exc
    real_register = profiles.register

    def register(sub):
        real_register(sub)
        sub.choices["profiles"].set_defaults(func=explode)
    monkeypatch.setattr(profiles, "register", register)
    monkeypatch.setattr(cli, "_silence_stdout", lambda: None)  # never touch pytest's own fd 1
    rc, _, err = run(capsys, "profiles")
    assert_contract(rc, err, needle, code=code)
    rc, _, err = run(capsys, "profiles", "--debug")
    assert rc == code and "Traceback" in err and err.strip().splitlines()[-1].startswith("planner: error: ")


def test_keyboard_interrupt_is_130(capsys, monkeypatch):
    import planner.commands.profiles as profiles

    def stop(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(profiles, "list_cmd", stop, raising=False)
    real_register = profiles.register
    monkeypatch.setattr(profiles, "register",
                        lambda sub: (real_register(sub), sub.choices["profiles"].set_defaults(func=stop)))
    rc, _, err = run(capsys, "profiles")
    assert rc == 130 and err.strip() == "planner: interrupted"


def test_debug_flag_is_not_an_error_anywhere(capsys):
    for args in (["--debug", "profiles"], ["profiles", "--debug"]):
        rc, out, err = run(capsys, *args)
        assert rc == 0 and "h100" in out and err == ""
    os.environ.pop("PLANNER_DEBUG", None)


# ---- the process boundary: real file-size limits, full or closed stdout (subprocess: these need a fresh fd 1) --

def _planner(args, **kw):
    import subprocess
    import sys
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], stderr=subprocess.PIPE, text=True,
                          env=env, timeout=120, **kw)


def test_file_size_limit_is_one_line(tmp_path, plan_text):
    import resource

    plan = tmp_path / "plan.json"
    plan.write_text(plan_text)
    out = tmp_path / "out.txt"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))  # export writes more than 100 bytes
    p = _planner(["export", plan, "--engine", "vllm", "--served-model", "org/m", "-o", out], preexec_fn=limit)
    assert_contract(p.returncode, p.stderr, "File too large (the file size limit (ulimit -f) was reached)")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["plan.json"]  # no partial file, no temp file


def test_stdout_full_or_closed_is_one_line():
    with open("/dev/full", "w") as full:
        p = _planner(["profiles"], stdout=full)
    assert_contract(p.returncode, p.stderr, "cannot write the output: No space left on device")
    p = _planner(["profiles"], preexec_fn=lambda: os.close(1))
    assert_contract(p.returncode, p.stderr, "standard output is closed")


def test_broken_pipe_is_quiet():
    r, w = os.pipe()
    os.close(r)  # like `planner profiles | head -0`: the reader is gone
    try:
        p = _planner(["profiles"], stdout=w)
    finally:
        os.close(w)
    assert p.returncode == 0 and p.stderr == ""


def test_sigterm_during_a_cli_write_exits_143_without_temp_files(tmp_path, plan_text):
    import signal
    import subprocess
    import sys

    plan = tmp_path / "plan.json"
    plan.write_text(plan_text)
    out = tmp_path / "out.txt"
    out.write_text("old")
    child = ("import os, sys, time\nfrom planner import cli\nreal = os.fsync\n"
             "def stall(fd):\n    real(fd)\n    print('writing', flush=True)\n    time.sleep(60)\n"
             "os.fsync = stall\nsys.exit(cli.main(sys.argv[1:]))\n")
    p = subprocess.Popen([sys.executable, "-c", child, "export", str(plan), "--engine", "vllm", "--served-model",
                          "org/m", "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "writing\n"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143 and err.strip() == "planner: terminated"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.txt", "plan.json"] and out.read_text() == "old"


# ---- results files and resume of run / eval / validate (nothing runs: every case fails before the server) ----
# The URL is a closed port: reaching the liveness probe would be a different error, so each needle proves the
# case was refused before any work. Live-server cases (dies, never answers, trickles, garbage, kill -9) are in
# tests/engine/test_nothing_lost.py and tests/unit/test_network_policy.py.

DEAD = "http://127.0.0.1:9/v1"


def _dataset(tmp_path, ids=("a", "b")):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"problem": f"Q {i}", "answer": "1", "unique_id": i}) + "\n" for i in ids))
    return path


def _results_case(tmp_path, case):
    """(argv, needle) of one results-file case; builds the files it needs."""
    data = _dataset(tmp_path)
    ro = tmp_path / "ro.jsonl"
    ro.write_text("")
    ro.chmod(0o444)
    (tmp_path / "held.jsonl.partial").write_text('{"problem_id": "a"}\n')
    (tmp_path / "bad.jsonl.partial").write_text('{"problem_id": "a"}\n{oops\n{"problem_id": "b"}\n')
    (tmp_path / "foreign.jsonl.partial").write_text('{"problem_id": "a"}\n')
    (tmp_path / "bank.jsonl.partial").write_text('{"problem_id": "a", "samples": [{"answer": "1"}]}\n')
    (tmp_path / "dup").mkdir()
    dup = _dataset(tmp_path / "dup", ids=("a", "a"))
    srv = ["--backend", "openai", "--url", DEAD, "--server-model", "m", "--quiet"]
    run_ = ["run", *srv, "--dataset", data]
    eval_ = ["eval", *srv, "--dataset", data, "-M", "2"]
    val = ["validate", "--plan", tmp_path / "plan.json", *srv, "--dataset", data]
    return {
        "run-resume-without-out": (run_ + ["--resume"], "--resume needs --out FILE"),
        "run-out-empty": (run_ + ["--out", ""], "--out is empty"),
        "run-out-directory": (run_ + ["--out", tmp_path], "is a directory"),
        "run-out-missing-dir": (run_ + ["--out", tmp_path / "no" / "r.jsonl"], "does not exist"),
        "run-out-read-only": (run_ + ["--out", ro], "is read-only"),
        "run-out-dev-null": (run_ + ["--out", "/dev/null"], "is a character device: give a regular file"),
        "run-partial-without-resume": (run_ + ["--out", tmp_path / "held.jsonl"], "pass --resume to continue"),
        "run-resume-corrupt-partial": (run_ + ["--out", tmp_path / "bad.jsonl", "--resume"], "line 2"),
        "run-resume-foreign-records": (run_ + ["--out", tmp_path / "foreign.jsonl", "--resume"],
                                       "has no run settings"),
        "run-resume-duplicate-ids": (["run", *srv, "--dataset", dup, "--out", tmp_path / "r.jsonl", "--resume"],
                                     "needs unique ids"),
        "eval-out-empty": (eval_ + ["--out", ""], "--out is empty"),
        "eval-out-directory": (eval_ + ["--out", tmp_path], "is a directory"),
        "eval-out-missing-dir": (eval_ + ["--out", tmp_path / "no" / "b.jsonl"], "does not exist"),
        "eval-resume-other-samples": (eval_ + ["--out", tmp_path / "bank.jsonl", "--resume"],
                                      "holds 1 samples per problem, not --samples 2"),
        "eval-partial-without-resume": (eval_ + ["--out", tmp_path / "held.jsonl"], "pass --resume"),
        "validate-resume-without-records": (val + ["--resume"], "--resume needs --records FILE"),
        "validate-records-missing-dir": (val + ["--records", tmp_path / "no" / "r.jsonl"], "does not exist"),
        "validate-records-directory": (val + ["--records", tmp_path], "--records"),
        "run-timeout-zero": (run_ + ["--request-timeout", "0"], "--request-timeout"),
        "run-timeout-nan": (run_ + ["--request-timeout", "nan"], "--request-timeout"),
        "run-timeout-negative": (run_ + ["--request-timeout", "-3"], "--request-timeout"),
        "run-url-empty": (["run", "--backend", "openai", "--url", "", "--server-model", "m", "--dataset", data],
                          "is empty"),
        "run-url-bad-port": (["run", "--backend", "openai", "--url", "http://h:70000/v1", "--server-model", "m",
                              "--dataset", data], "bad server URL"),
        "run-dead-server": (run_, "is not answering"),
        "calibrate-endpoint-empty": (["calibrate", "--endpoint", "", "--model", "m", "-o", tmp_path / "p.json"],
                                     "--endpoint is empty"),
        "calibrate-endpoint-timeout-inf": (["calibrate", "--endpoint", DEAD, "--model", "m", "--endpoint-timeout",
                                            "inf", "-o", tmp_path / "p.json"], "--endpoint-timeout"),
    }[case]


RESULTS_CASES = ["run-resume-without-out", "run-out-empty", "run-out-directory", "run-out-missing-dir",
                 "run-out-read-only", "run-out-dev-null", "run-partial-without-resume", "run-resume-corrupt-partial",
                 "run-resume-foreign-records", "run-resume-duplicate-ids", "eval-out-empty", "eval-out-directory",
                 "eval-out-missing-dir", "eval-resume-other-samples", "eval-partial-without-resume",
                 "validate-resume-without-records", "validate-records-missing-dir", "validate-records-directory",
                 "run-timeout-zero", "run-timeout-nan", "run-timeout-negative", "run-url-empty", "run-url-bad-port",
                 "run-dead-server", "calibrate-endpoint-empty", "calibrate-endpoint-timeout-inf"]


@pytest.mark.parametrize("case", RESULTS_CASES)
@pytest.mark.slow
def test_bad_results_file_or_network_flag(capsys, tmp_path, plan_text, case):
    (tmp_path / "plan.json").write_text(plan_text)
    argv, needle = _results_case(tmp_path, case)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    rc, _, err = run(capsys, *argv)
    assert_contract(rc, err, needle)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written or lost


@pytest.mark.parametrize("argv,needle", [
    (["predict", "--tpot", "--context", "-1"], "--context: must be an integer in [1, "),
    (["predict", "--tpot", "--context", "nan"], "--context: expected an integer"),
    (["recommend", "-d", "60s", "--prompt-tokens", "0"], "--prompt-tokens: must be an integer in [1, "),
])
def test_prompt_and_context_flags_name_themselves(capsys, argv, needle):
    rc, _, err = run(capsys, *argv)
    assert_contract(rc, err, needle)
