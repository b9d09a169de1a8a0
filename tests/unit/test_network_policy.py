"""Nothing hangs: the one network policy (planner/http.py, the openai backend) against fake servers that never
answer, trickle keep-alive lines or single bytes, send garbage, or fail; every case ends within its total
deadline as one error naming the URL. Also: GET probes are retried, POSTs are not; timeout flags are checked;
endpoint calibration keeps its raw measurements when the fit fails."""

import json
import time

import pytest

from fake_openai import FakeOpenAI, dataset
from planner import cli
from planner.errors import PlannerError
from planner.executor.backends.openai import OpenAIBackend
from planner.executor.deadline import Deadline
from planner.http import Endpoint


def main(capsys, *args):
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    errors = [x for x in lines if x.startswith("planner: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


@pytest.fixture
def fake():
    with FakeOpenAI(lifetime_s=30) as f:
        yield f


def timed(fn):
    t = time.monotonic()
    with pytest.raises(PlannerError) as e:
        fn()
    return str(e.value), time.monotonic() - t


# ---- planner.http.Endpoint (endpoint calibration's client) -----------------------------------------------------

@pytest.mark.parametrize("mode", ["never", "trickle", "trickle_bytes"])
@pytest.mark.slow
def test_stream_has_a_total_deadline(fake, mode):
    fake.mode = mode
    ep = Endpoint(fake.url, timeout_s=1.0)
    msg, took = timed(lambda: list(ep.stream("/v1/completions", {"model": "m", "prompt": "Problem 1"})))
    assert 0.9 <= took < 2.5, took                 # per-read timeouts alone would wait forever on a trickle
    assert f"endpoint http://127.0.0.1:{fake.port}: no answer to /v1/completions within 1 s" in msg


@pytest.mark.slow
def test_post_json_has_a_total_deadline(fake):
    fake.mode = "trickle"
    msg, took = timed(lambda: Endpoint(fake.url, 0.8).post_json("/v1/completions", {"prompt": "Problem 1"}))
    assert took < 2.0 and "no answer to /v1/completions within 0.8 s" in msg and str(fake.port) in msg


@pytest.mark.slow
def test_probe_gets_seconds_not_the_generation_timeout(fake):
    fake.get_mode = "never"
    import planner.http as H

    ep = Endpoint(fake.url, timeout_s=600)
    old, H.PROBE_TIMEOUT_S = H.PROBE_TIMEOUT_S, 0.5
    try:
        msg, took = timed(lambda: ep.get_json("/v1/models"))
    finally:
        H.PROBE_TIMEOUT_S = old
    assert took < 1.5 and "no answer to /v1/models within 0.5 s" in msg


@pytest.mark.slow
def test_get_is_retried_post_is_not(fake):
    fake.get_mode = "flaky"                        # 503 once, then fine
    assert Endpoint(fake.url, 5).get_json("/v1/models")["data"][0]["id"] == "m"
    assert fake.gets == 2
    fake.mode = "http_500"
    msg, _ = timed(lambda: Endpoint(fake.url, 5).post_json("/v1/completions", {"prompt": "Problem 3"}))
    assert fake.posts[3] == 1 and "HTTP 500: engine dead" in msg


def test_garbage_and_death_are_one_line(fake):
    ep = Endpoint(fake.url, 5)
    for mode, needle in [("garbage_json", "bad stream chunk"), ("garbage_http", "unreachable"),
                         ("die_mid_stream", "ended before [DONE]"), ("refuse", "unreachable")]:
        fake.mode = mode
        msg, took = timed(lambda: list(ep.stream("/v1/completions", {"model": "m", "prompt": "Problem 1"})))
        assert needle in msg and str(fake.port) in msg and "\n" not in msg and took < 2, (mode, msg)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "soon", True])
def test_endpoint_timeout_must_be_positive_seconds(bad):
    with pytest.raises(PlannerError, match="--endpoint-timeout"):
        Endpoint("http://127.0.0.1:9", timeout_s=bad)


# ---- the openai backend (planner run / eval / validate) -------------------------------------------------------

@pytest.mark.slow
def test_backend_never_answering_is_an_error_not_a_silent_none(fake):
    fake.mode = "never"
    be = OpenAIBackend(fake.url, "m", timeout_s=1)
    msg, took = timed(lambda: be.generate("Problem 1", 2, Deadline(None)))
    assert took < 2.5 and f"server {fake.url}/chat/completions: no complete answer within 1 s" in msg
    be = OpenAIBackend(fake.url, "m")              # under a deadline: no response at all is an error too
    msg, took = timed(lambda: be.generate("Problem 1", 2, Deadline(0.8)))
    assert took < 2.0 and "sent no response within the 0.8 s deadline" in msg and fake.url in msg


@pytest.mark.parametrize("mode", ["trickle", "trickle_bytes"])
@pytest.mark.slow
def test_backend_trickle_is_bounded(fake, mode):
    fake.mode = mode
    be = OpenAIBackend(fake.url, "m", timeout_s=1)
    msg, took = timed(lambda: be.generate("Problem 1", 2, Deadline(None)))
    assert 0.9 <= took < 2.5 and "no complete answer within 1 s" in msg
    # with a deadline and an answering (if slow) server, the deadline cuts the branches as usual
    res = OpenAIBackend(fake.url, "m").generate("Problem 1", 2, Deadline(0.6))
    assert res.stopped_by == "deadline" and [b.finish_reason for b in res.branches] == ["deadline"] * 2
    assert res.latency_s < 1.5


@pytest.mark.parametrize("mode,needle", [("garbage_json", "bad stream chunk"), ("garbage_http", "connection broke"),
                                         ("die_mid_stream", "ended before [DONE]"), ("http_500", "HTTP 500"),
                                         ("refuse", "connection broke")])
def test_backend_failures_name_the_url(fake, mode, needle):
    fake.mode = mode
    msg, took = timed(lambda: OpenAIBackend(fake.url, "m", timeout_s=5).generate("Problem 1", 2, Deadline(None)))
    assert needle in msg and msg.startswith(f"server {fake.url}/chat/completions:") and took < 2, msg


def test_backend_default_timeout_follows_the_deadline():
    be = OpenAIBackend("http://127.0.0.1:9/v1", "m")
    assert be.request_timeout(Deadline(None)) == 600.0
    assert 31.0 < be.request_timeout(Deadline(30.0)) <= 32.0
    assert OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout_s=7).request_timeout(Deadline(30.0)) == 7


# ---- the CLI: one line, exit 2, the URL, nothing hangs -------------------------------------------------------

def run_cmd(url, data, *extra):
    return ["run", "--backend", "openai", "--url", url, "--server-model", "m", "--dataset", data, "-n", "2",
            "--quiet", *extra]


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "abc", "1e9", ""])
def test_bad_request_timeout_flag(capsys, tmp_path, value):
    rc, _, err = main(capsys, *run_cmd("http://127.0.0.1:9/v1", dataset(tmp_path / "d.jsonl", 1),
                                       "--request-timeout", value))
    assert rc == 2 and "--request-timeout" in error_line(err)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_bad_endpoint_timeout_flag(capsys, tmp_path, value):
    rc, _, err = main(capsys, "calibrate", "--endpoint", "http://127.0.0.1:9", "--model", "m",
                      "--endpoint-timeout", value, "-o", tmp_path / "p.json")
    assert rc == 2 and "--endpoint-timeout" in error_line(err)


@pytest.mark.parametrize("cmd", [["calibrate", "--endpoint", "", "--model", "m"],
                                 ["calibrate", "--endpoint", "   ", "--model", "m"]])
def test_empty_endpoint_is_an_error_not_on_device_calibration(capsys, tmp_path, cmd):
    rc, _, err = main(capsys, *cmd, "-o", tmp_path / "p.json")
    assert rc == 2 and "--endpoint is empty" in error_line(err)


@pytest.mark.parametrize("url,needle", [("", "--endpoint/--url is empty"), ("ftp://x", "bad server URL"),
                                        ("http://127.0.0.1:99999/v1", "bad server URL"),
                                        ("http://127.0.0.1:9/v1", "is not answering")])
@pytest.mark.slow
def test_bad_or_dead_url_fails_before_any_problem(capsys, tmp_path, url, needle):
    rc, _, err = main(capsys, *run_cmd(url, dataset(tmp_path / "d.jsonl", 1)))
    assert rc == 2 and needle in error_line(err)


@pytest.mark.parametrize("mode", ["never", "trickle", "trickle_bytes", "garbage_json", "die_mid_stream"])
@pytest.mark.slow
def test_run_against_a_broken_server_is_one_line(capsys, tmp_path, fake, mode):
    fake.mode = mode
    t = time.monotonic()
    rc, _, err = main(capsys, *run_cmd(fake.url, dataset(tmp_path / "d.jsonl", 2), "--request-timeout", "1"))
    assert rc == 2 and fake.url in error_line(err) and time.monotonic() - t < 5


@pytest.mark.slow
def test_run_under_a_deadline_against_a_silent_server(capsys, tmp_path, fake):
    fake.mode = "never"
    rc, out, err = main(capsys, *run_cmd(fake.url, dataset(tmp_path / "d.jsonl", 1), "--deadline", "0.5s"))
    assert rc == 2 and "sent no response within the 0.5 s deadline" in error_line(err)
    assert "answer: None" not in out


@pytest.mark.slow
def test_liveness_probe_hanging(capsys, tmp_path, fake, monkeypatch):
    import planner.executor.backends.openai as O

    fake.get_mode = "never"
    monkeypatch.setattr(O, "PROBE_TIMEOUT_S", 0.5)
    t = time.monotonic()
    rc, _, err = main(capsys, *run_cmd(fake.url, dataset(tmp_path / "d.jsonl", 1)))
    assert rc == 2 and "is not answering" in error_line(err) and fake.url in err
    assert fake.total_posts == 0 and time.monotonic() - t < 3


# ---- endpoint calibration keeps raw measurements when the fit fails ----------------------------------------

def test_endpoint_fit_failure_keeps_raw_measurements(tmp_path, monkeypatch):
    from planner.calibrate.endpoint import measure as M
    from planner.calibrate.endpoint.probe import ServerInfo
    from planner.calibrate.settings import EndpointRun

    info = ServerInfo("http://fake:1", "m", "vllm", "0.0", None, 4096, ["m"], has_metrics=False, spec_positions=0)
    monkeypatch.setattr(M, "probe", lambda ep, model: info)
    monkeypatch.setattr(M, "local_config", lambda info, cfg: None)
    monkeypatch.setattr(M.sweeps, "prefill_point", lambda ep, info, n, nonce, t: {"L": n, "t_s": 0.01 * n})
    monkeypatch.setattr(M.sweeps, "decode_point", lambda ep, info, B, T, p, temp, t: {"B": B, "t_s": 0.1 * B})
    monkeypatch.setattr(M.sweeps, "sample_lengths", lambda *a: {"tokens": [10, 20, 30]})

    def bad_fit(*a, **k):
        raise ValueError("singular matrix")
    monkeypatch.setattr(M, "endpoint_parts", bad_fit)
    out = tmp_path / "prof.json"
    run = EndpointRun(endpoint="http://fake:1", model="m", quick=True, timeout=5, output=str(out))
    with pytest.raises(PlannerError) as e:
        M.measure_endpoint(run)
    msg = str(e.value)
    assert "fitting the measurements failed: ValueError: singular matrix" in msg and "saved to" in msg
    saved = json.loads((tmp_path / "prof.json.partial.json").read_text())
    assert [p["B"] for p in saved["decode_points"]] == list(M.QUICK.batches) + list(M.QUICK.long_batches)
    assert len(saved["prefill_points"]) == len(M.QUICK.prefill_tokens) * M.QUICK.prefill_repeats
    assert saved["lengths"] == {"tokens": [10, 20, 30]} and not out.exists()
