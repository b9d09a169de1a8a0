"""tts-planner: choose test-time-scaling configurations (branches x speculative draft length x method x model)
that maximise expected accuracy under a wall-clock deadline.

The light path (profiles -> model -> optimizer -> plan) imports only numpy; torch lives behind
`planner.engine` and is imported only by `planner run`, `planner eval` and `planner calibrate`.

Python API (docs/api.md): `from planner import load_profile, recommend, predict, grid`. The names are loaded
on first use, so `import planner` itself stays free of numpy.
"""

__version__ = "0.1.0"
__all__ = ["load_profile", "recommend", "predict", "grid", "Prediction", "Plan"]


def __getattr__(name: str):
    if name in __all__:
        from planner import api

        return getattr(api, name)
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
