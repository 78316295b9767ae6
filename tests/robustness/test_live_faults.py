"""A real headless live call whose capture process is SIGKILLed: the launcher restarts it, the
restarted capture numbers its frames above every earlier frame, and complete frames from it are
shown again while the other roles go on. The recovery time is printed (the README's figure comes
from ``python tests/robustness/live_faults.py``, which kills every role in turn)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest
from live_faults import LiveCall, alive, counters, kill_and_measure, last_complete, read_metrics

from app.live.launcher import SEQ_BLOCK

pytestmark = [
    pytest.mark.net,
    pytest.mark.gl,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL"),
]


def test_complete_frames_come_back_after_the_capture_is_killed(tmp_path: Path) -> None:
    call = LiveCall(tmp_path)
    call.start()
    try:
        call.wait_complete(n=3)
        time.sleep(5)  # the capture numbers ~125 frames: a restart from 0 would fall behind them
        before = read_metrics(call.metrics_path)
        assert before is not None
        seq_before = last_complete(before)
        assert 0 <= seq_before < SEQ_BLOCK
        rec = kill_and_measure(call, "capture")
        after = read_metrics(call.metrics_path)
    finally:
        code = call.stop()
    assert rec.recovered, (rec.detail, call.log()[-2000:])
    assert rec.restarts == 1 and rec.exit_codes == [-signal.SIGKILL] and not rec.others_restarted, rec
    assert after is not None and last_complete(after) >= SEQ_BLOCK, "frames of the restarted capture"
    print(f"complete frames from the restarted capture {rec.seconds:.2f} s after the SIGKILL")
    final = read_metrics(call.metrics_path)
    assert code == 0, call.log()[-2000:]
    assert final is not None and counters(final, "compositor").get("out_of_order", 0) == 0
    assert not [p for p in call.pids_seen if alive(p)], "processes left behind"
    assert not Path(final["run_dir"]).exists(), "the run folder was left behind"
