"""Locate and explain errors: rules (Degenerate), symbolic step checker, LLM judges, teacher forcing.

Import the submodules directly (``qmr_core.diagnose.pipeline.diagnose_run``); this package keeps
its import light so the CLI starts fast.
"""
