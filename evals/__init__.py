"""Evaluations of Dexa agents (run from the repository root: `python -m evals.business`)."""
