"""The project's one decoding engine: batched, per-row speculative decoding over Hugging Face causal LMs.

Why one engine: calibration measures step times, acceptance and lengths with the same code that `planner run`
executes, so the latency model describes what is actually run. Public API (see docs/executor.md):
`models.load_model`, `models.make_drafter`, `decode.Engine.generate`, `forward.forward_step`,
`timing.measure_step / measure_prefill / measure_bandwidth`. Importing this package imports torch."""
