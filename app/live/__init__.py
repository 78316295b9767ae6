"""Thin process shells around the pure pipeline: receive -> call -> send.

Run one role with ``python -m app.live CONFIG_JSON`` (the launcher does this).
"""
