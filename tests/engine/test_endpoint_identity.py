"""Endpoint calibration records the server's prefill sharing (vllm:cache_config_info) and the id it serves the
model as. In the engine tier: with a local model folder the calibrator counts prompt tokens with its tokenizer
(transformers). The fake server is tests/unit/test_serving_calibrate.py's."""

from __future__ import annotations

import pytest

from planner.profile.schema import PrefillSharing, Profile


@pytest.fixture
def vllm_like(tmp_path):
    """test_serving_calibrate's fake server, exporting vLLM's cache_config_info (CPU build: 128-token blocks)."""
    import json as _json
    import threading
    from http.server import ThreadingHTTPServer

    from test_serving_calibrate import CONFIG, Fake, handler

    class WithCache(Fake):
        cache = 'vllm:cache_config_info{block_size="128",cache_dtype="auto",enable_prefix_caching="True"} 1.0\n'

        def metrics_text(self) -> str:
            return super().metrics_text() + self.cache

    root = tmp_path / "model"
    root.mkdir()
    (root / "config.json").write_text(_json.dumps(CONFIG))
    fake = WithCache(str(root))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler(fake))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield fake, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_calibrated_profile_carries_sharing_and_the_served_id(vllm_like, tmp_path, capsys):
    from test_serving_calibrate import args, calibrate_endpoint

    from planner.choice import _served

    fake, url = vllm_like
    prof = calibrate_endpoint(args(url, tmp_path, model=None))         # the only served model is taken
    p = Profile.from_dict(prof)
    assert p.prefill_sharing == PrefillSharing("blocks", 128, True, "vllm:cache_config_info")
    assert prof["provenance"]["engine"]["served_model"] == "m" and p.model.name == "m"
    assert p.model.hf_id == fake.root                                   # what the server loaded: loadable again
    assert _served(p) == {"served_model": "m"}
    pts = prof["calibration"]["decode_points"]
    assert all(d["prefilled_tokens"] == d["B"] * d["prompt_tokens"] for d in pts if d["prompt_tokens"] < 128)
    by_root = calibrate_endpoint(args(url, tmp_path, model=fake.root))  # --model FOLDER: the id it is served as
    assert by_root["provenance"]["engine"]["served_model"] == "m"
    fake.cache = ""
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=None))
    assert prof["serving"]["prefill_sharing"]["source"].startswith("default")
    assert "no KV-cache configuration" in capsys.readouterr().err
