"""Builders shared by several test files (stores, reference kernels, Pilot helpers)."""
