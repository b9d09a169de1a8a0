"""Serving engines: calibrate against an OpenAI-compatible endpoint, read its metrics, launch one for tests.

`calibrate_endpoint(args) -> profile dict` is what `planner calibrate --endpoint URL --model NAME` calls;
the import is deferred so that importing this package stays free of scipy."""


def calibrate_endpoint(args) -> dict:
    from planner.serving.calibrate import calibrate_endpoint as run

    return run(args)


__all__ = ["calibrate_endpoint"]
