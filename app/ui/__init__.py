"""The windows a user meets first: photo selection, display calibration, single-view preview.

Each window is split in two layers:

* a pure core (no pyglet, no OpenGL) that holds the state and turns keys and clicks into
  actions: :mod:`app.ui.photo_grid`, :class:`app.ui.calibrate_app.CenterNudge`,
  :class:`app.ui.preview_app.ViewSweep`; drawing of the 2-D parts into an RGBA image
  (:mod:`app.ui.select_view`) is pure too;
* a thin shell that owns the pyglet window and the moderngl context (main thread only) and
  talks to background threads that do the slow work (MediaPipe, the avatar backend).
"""
