"""Serving engines: calibrate against an OpenAI-compatible endpoint, read its metrics, launch one for tests."""
