"""Thin process shells around the pure pipeline: receive -> call -> send.

Run one role with ``python -m pipeline.workers CONFIG_JSON`` (the launcher does this).
"""
