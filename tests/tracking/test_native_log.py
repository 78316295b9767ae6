"""MediaPipe's native start-up notices are kept off stderr; everything else still gets through."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pipeline.tracking.native_log import is_native_notice

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
    # real MediaPipe graphs on a real photo: photo mode (three graphs) and the matte
    code = """
        import cv2, sys
        from pipeline.tracking.landmarks import FaceMeshDetector
        from pipeline.tracking.matting import Matter
        img = cv2.cvtColor(cv2.imread("assets/samples/astronaut.jpg"), cv2.COLOR_BGR2RGB)
        with FaceMeshDetector() as det:
            faces = det.detect(img)
            det.detect(img)
        with Matter() as m:
            m.matte(cv2.resize(img, (256, 256)))
        print(len(faces))
    """
    proc = _child(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"
    assert proc.stderr.strip() == "", proc.stderr
    # and MediaPipe does print them without the filter (so this test can tell)
    raw = _child(code, VOODOO_HOLO_NATIVE_LOGS="1")
    assert any(is_native_notice(ln) for ln in raw.stderr.splitlines()), raw.stderr


def test_linger_catches_notices_printed_after_the_call_returns() -> None:
    # native graph threads log from the background just after the call that started them
    proc = _child(
        """
        import os, sys, threading, time
        from pipeline.tracking.native_log import filter_native_stderr
        with filter_native_stderr(linger=1.0):
            t = threading.Timer(0.2, os.write, (2, b"W0000 00:00:1.5    42 late.cc:9] late notice\\n"))
            t.start()
        print("during linger", file=sys.stderr)
        t.join()
        time.sleep(1.2)
        print("after linger", file=sys.stderr, flush=True)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["during linger", "after linger"]
