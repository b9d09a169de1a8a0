"""tts-planner: choose test-time-scaling configurations (branches x speculative draft length x method x model)
that maximise expected accuracy under a wall-clock deadline.

The light path (profiles -> model -> optimizer -> plan) imports only numpy/scipy; torch lives behind
`planner.engine` and is imported only by `planner run`, `planner eval` and `planner calibrate`.
"""

__version__ = "0.1.0"
