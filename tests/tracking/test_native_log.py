"""MediaPipe's native start-up notices are kept off stderr; everything else still gets through,
as it is written (real MediaPipe graphs and real child processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pipeline.tracking.native_log import is_native_notice, strip_native_notices

REPO = Path(__file__).resolve().parents[2]

NOTICES = [
    "W0000 00:00:1795593891.018339    7581 landmark_projection_calculator.cc:186] Using NORM_RECT ...",
    "I0000 00:00:1795593890.985758    7586 gl_context.cc:369] GL version: 3.2",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
]


def _child(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        timeout=120,
    )


def test_notice_patterns() -> None:
    assert all(is_native_notice(n) for n in NOTICES)
    bar = b"\rrender:   0%|          | 0/20 [00:00<?, ?frame/s]"
    glued = bar + NOTICES[0].encode() + b"\n" + b"\rrender:   5%|5         | 1/20\n"
    assert strip_native_notices(glued) == bar + b"\rrender:   5%|5         | 1/20\n"
    assert strip_native_notices(b"E0000 00:00:1.5    42 x.cc:2] a real error\n") != b""
    assert not is_native_notice("E0000 00:00:1795593891.018339    7581 gpu.cc:1] could not open device")
    assert not is_native_notice("Traceback (most recent call last):")
    assert not is_native_notice("render:  10%|#         | 11/110")


def test_filter_drops_notices_and_keeps_the_rest_in_order() -> None:
    code = """
        import os, sys
        from pipeline.tracking.native_log import filter_native_stderr
        print("before", file=sys.stderr, flush=True)
        with filter_native_stderr():
            os.write(2, b"W0000 00:00:1.5    42 x.cc:1] chatter\\n")
            print("python inside", file=sys.stderr)
            with filter_native_stderr():  # nested
                os.write(2, b"E0000 00:00:1.5    42 x.cc:2] a real error\\n")
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
        print("after", file=sys.stderr, flush=True)
    """
    proc = _child(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "before",
        "python inside",
        "E0000 00:00:1.5    42 x.cc:2] a real error",
        "after",
    ]
    # the escape hatch shows everything
    raw = _child(code, VOODOO_HOLO_NATIVE_LOGS="1")
    assert "chatter" in raw.stderr and "XNNPACK" in raw.stderr


def test_face_tracking_leaves_stderr_clean() -> None:
    """Real MediaPipe graphs on a real photo: video mode fed frames without a face first (the
    landmark models then first run on a later call), photo mode (three graphs) and the matte,
    with a pause after creating each graph (its threads log after the constructor returns)."""
    code = """
        import os, time, cv2, numpy as np
        from pipeline.tracking.landmarks import DetectorConfig, FaceMeshDetector
        from pipeline.tracking.matting import Matter
        img = cv2.cvtColor(cv2.imread("assets/samples/astronaut.jpg"), cv2.COLOR_BGR2RGB)
        with FaceMeshDetector(DetectorConfig(video=True)) as det:
            time.sleep(0.5)
            for _ in range(3):
                det.detect(np.zeros_like(img))
            os.write(2, b"-- no face so far\\n")
            faces = det.detect(img)
            det.detect(img)
        with FaceMeshDetector() as det:
            time.sleep(0.5)
            det.detect(img)
        with Matter() as m:
            m.matte(cv2.resize(img, (256, 256)))
        print(len(faces))
    """
    proc = _child(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    assert proc.stderr.splitlines() == ["-- no face so far"], proc.stderr
    # MediaPipe does print notices without the filter, some of them only on the first frame
    # with a face: a window ending with the first call (or after a time) would let them out.
    raw = _child(code, VOODOO_HOLO_NATIVE_LOGS="1")
    later = raw.stderr.split("-- no face so far", 1)[1]
    assert any(is_native_notice(ln) for ln in later.splitlines()), raw.stderr


def test_output_in_a_window_is_shown_as_it_is_written() -> None:
    """While a window is open, lines reach the terminal at once (not when the window closes)."""
    code = """
        import os, sys
        from pipeline.tracking.native_log import QuietWindow
        window = QuietWindow().open()
        print("inside, before the reply", file=sys.stderr, flush=True)
        sys.stdin.readline()  # the test answers only after it has seen the line above
        os.write(2, b"W0000 00:00:1.5    42 x.cc:1] chatter\\n")
        print("inside, after the reply", file=sys.stderr, flush=True)
        window.close()
        print("after", file=sys.stderr, flush=True)
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stderr is not None and proc.stdin is not None
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stderr.readline()), daemon=True)
        reader.start()
        reader.join(120)  # only a guard against hanging: held-back output never arrives here
        assert first == ["inside, before the reply\n"]  # the child waits for us here
        proc.stdin.write("go\n")
        proc.stdin.flush()
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rest.splitlines() == ["inside, after the reply", "after"]


def test_notices_arriving_in_pieces_and_after_a_progress_bar_are_dropped() -> None:
    code = """
        import os, sys, time
        from pipeline.tracking.native_log import filter_native_stderr
        with filter_native_stderr():
            sys.stderr.write("\\rrender:   0%|          | 0/2"); sys.stderr.flush()
            os.write(2, b"W0000 00:00:1.5    42 inference_feedback_manager.cc:114] Feedback manager\\n")
            for piece in (b"INFO: ", b"Created TensorFlow Lite XNNPACK delegate for CPU.", b"\\n"):
                os.write(2, piece)  # as TensorFlow Lite writes it
                time.sleep(0.05)
            sys.stderr.write("\\rrender: 100%|##########| 2/2\\n"); sys.stderr.flush()
            os.write(2, b"INFO: a line that only starts like a notice\\n")
    """
    proc = subprocess.run(  # bytes: a text pipe would turn the bar's carriage returns into newlines
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        b"\rrender:   0%|          | 0/2\rrender: 100%|##########| 2/2\n"
        b"INFO: a line that only starts like a notice\n"
    )


def test_real_errors_get_through_even_when_the_window_never_closes() -> None:
    code = """
        import os, subprocess, sys
        from pipeline.tracking.native_log import QuietWindow
        QuietWindow().open()  # a graph that never found a face, never closed
        # a child started now inherits the filtered stderr: its output still arrives
        subprocess.run([sys.executable, "-c", "import os, sys; print('child says hi', file=sys.stderr); "
                        "os.write(2, b'I0000 00:00:1.5    42 y.cc:3] child chatter\\\\n')"], check=True)
        os.write(2, b"F0000 00:00:1.5    42 x.cc:9] Check failed: a native fatal error\\n")
        raise RuntimeError("a Python error inside the window")
    """
    proc = _child(code)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[:2] == ["child says hi", "F0000 00:00:1.5    42 x.cc:9] Check failed: a native fatal error"]
    assert "Traceback (most recent call last):" in lines
    assert lines[-1] == "RuntimeError: a Python error inside the window"
    assert "chatter" not in proc.stderr


def test_render_progress_bar_is_not_split_by_notices(tmp_path) -> None:
    """``voodoo-holo render`` on the samples: a bar, the summary (in the singular for one
    frame), no native notice."""
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "render", "--frames", "1", "--views", "4", "--view-size", "96"]
        + ["--out", str(tmp_path / "r.mp4")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    pieces = [p for p in proc.stderr.replace("\r", "\n").splitlines() if p.strip()]
    assert pieces and all(p.startswith("render:") for p in pieces), proc.stderr
    assert "fps), 1 frame\n" in proc.stdout and ": 1 frame, " in proc.stdout, proc.stdout


@pytest.mark.parametrize("run", [1, 2])
def test_windows_follow_fd_2_wherever_it_points_now(capfd, run) -> None:
    """In one process, fd 2 is pointed at a new capture for each test: a window's output must
    land in the current one (this test runs twice, each time with its own capture)."""
    from pipeline.tracking.native_log import filter_native_stderr

    with filter_native_stderr():
        os.write(2, f"kept {run}\n".encode())
        os.write(2, b"W0000 00:00:1.5    42 x.cc:1] chatter\n")
    assert capfd.readouterr().err == f"kept {run}\n"


def test_a_closed_window_is_written_out_while_another_stays_open(capfd) -> None:
    """Another graph keeps its window open (a tracker that never ran its first inference): a
    block's output is still in the current stderr when the block ends."""
    from pipeline.tracking.native_log import QuietWindow, filter_native_stderr

    other = QuietWindow().open()
    try:
        with filter_native_stderr():
            os.write(2, b"kept while another window is open\n")
            os.write(2, b"I0000 00:00:1.5    42 x.cc:1] chatter\n")
        assert capfd.readouterr().err == "kept while another window is open\n"
    finally:
        other.close()
