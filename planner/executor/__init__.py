"""Runs a plan for real: branches from a backend (the local engine or an OpenAI-compatible server) under a
deadline, final-answer extraction, math-verify grouping, voting with early stop, graded records and sample
banks. Only the local backend imports torch."""
