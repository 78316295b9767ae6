"""The capture's pacing against the estimator's grants, over a real ZeroMQ link."""

from __future__ import annotations

import time

import zmq

from app.live.roles import _CapturePace


def _pair(tmp_path):
    ctx = zmq.Context.instance()
    push, pull = ctx.socket(zmq.PUSH), ctx.socket(zmq.PULL)
    endpoint = f"ipc://{tmp_path}/grant"
    pull.bind(endpoint)
    push.connect(endpoint)
    return push, pull


def _deliver(push, pull) -> None:
    push.send(b"grant")
    assert pull.poll(2000)  # it has arrived (take() reads it)


def test_take_says_no_without_a_grant_and_wait_waits_for_one(tmp_path):
    push, pull = _pair(tmp_path)
    try:
        pace = _CapturePace(pull, timeout_s=60.0)
        assert pace.take()  # the first frame needs no grant
        assert not pace.take()  # a paced file skips frames the pipeline cannot take
        _deliver(push, pull)
        assert pace.take()

        # Unpaced: wait() hands over the next frame as soon as the grant comes.
        t0 = time.monotonic()
        push.send(b"grant")
        assert pace.wait()
        assert time.monotonic() - t0 < 30.0  # long before the 60 s timeout
    finally:
        push.close(linger=0)
        pull.close(linger=0)


def test_wait_goes_on_without_a_grant_after_the_timeout(tmp_path):
    push, pull = _pair(tmp_path)
    try:
        pace = _CapturePace(pull, timeout_s=0.2)
        assert pace.take()
        t0 = time.monotonic()
        assert pace.wait()  # an estimator that restarted: track anyway
        assert time.monotonic() - t0 >= 0.15
    finally:
        push.close(linger=0)
        pull.close(linger=0)
