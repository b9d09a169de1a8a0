"""Sub-command registry. Each module here defines `register(subparsers)` which adds its parser and sets
`func=handler(args) -> int`. Modules must keep heavy imports (torch, transformers, matplotlib) inside the
handler so that `planner recommend` stays light."""

COMMANDS = [
    "recommend",
    "predict",
    "profiles",
    "pareto",
    "export",
    "run",
    "eval",
    "validate",
    "demo",
    "calibrate",
]
