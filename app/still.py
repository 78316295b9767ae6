"""``voodoo-holo render`` with one photo as the driver: "give this photo that photo's expression".

The driver photo is prepared like a source photo (the tracker's single-image mode) and drives the
avatar once; the result is a still image instead of a video:

- ``quilt``: one PNG quilt, ``{stem}_qs{cols}x{rows}a{aspect}.png`` (or the ``.png`` name given);
- ``views``: one PNG per view, ``{stem}_views/view_00.png`` ...;
- ``sbs``: ``{stem}_sbs.png``, source | driver | result.

A photo has no neutral frame to measure an expression against. The neural avatar does not need
one (VOODOO 3D reads each driver crop's expression on its own); the mesh avatar reads the
photo's expression against MediaPipe's canonical neutral face, around the mouth, eyes and brows
only (see :meth:`pipeline.mesh.backend.MeshBackend.reset_neutral`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.outputs import OutputError, check_folder_writable, refuse_existing
from app.render import RenderConfig, RenderError, RenderResult, open_reenactor
from display.quilt import assemble_quilt, quilt_filename

__all__ = ["STILL_SUFFIXES", "is_still_driver", "render_still", "still_paths"]

#: Driver files that are one photo.
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def is_still_driver(driver: Path) -> bool:
    return driver.suffix.lower() in STILL_SUFFIXES and driver.expanduser().is_file()


def still_paths(config: RenderConfig) -> list[Path]:
    """The images a still render writes (views: view 0 first)."""
    out = config.out.expanduser()
    named = out.suffix.lower() == ".png"
    if out.suffix.lower() in (".mp4", ".mov", ".mkv"):
        raise OutputError(
            f"--out {out.name}: a photo as driver makes a still image; give a .png name or a folder"
        )
    if named and config.format == "views":
        raise OutputError("--format views writes one image per view: give an output folder, not a .png name")
    folder, stem = (out.parent, out.stem) if named else (out, config.source.stem)
    if config.format == "quilt":
        return [out if named else folder / quilt_filename(stem, config.plan.quilt, ".png")]
    if config.format == "sbs":
        return [out if named else folder / f"{stem}_sbs.png"]
    n = config.plan.views.num_views
    width = max(2, len(str(n - 1)))
    return [folder / f"{stem}_views" / f"view_{v:0{width}d}.png" for v in range(n)]


def render_still(
    config: RenderConfig, *, progress: bool = True, log_fn: Callable[[str], object] = print
) -> RenderResult:
    """Render ``config`` (whose driver is one photo). Raises :class:`RenderError` for unusable
    input."""
    import cv2
    from PIL import Image

    if config.resume:
        raise RenderError("--resume continues a video; with a photo as driver the render is one still image")
    from pipeline.tracking import PhotoError, prepare_photo

    t0 = time.monotonic()
    try:
        paths = still_paths(config)
        if not config.force:
            refuse_existing(paths, extra_fix="")
        check_folder_writable(paths[0].parent)
    except OutputError as e:
        raise RenderError(str(e)) from e
    views = config.plan.views.with_views(1) if config.format == "sbs" else config.plan.views
    reen, face = open_reenactor(config, views, config.source.expanduser(), progress)
    backend = reen.backend
    try:
        try:
            driver = prepare_photo(config.driver.expanduser())
        except PhotoError as e:
            raise RenderError(f"driver photo: {e}") from e
        log_fn(f"source: {config.source} ({config.avatar.backend} avatar)")
        log_fn(f"driver: photo {config.driver.name} (its expression and head pose, one still)")
        backend.reset_neutral(absolute=True)
        scene = reen.drive(driver)
        if scene is None:
            raise RenderError(f"driver photo {config.driver.name}: its face could not drive the avatar")
        rendered = reen.render(scene).rgb_u8
    finally:
        reen.close()
    if config.format == "quilt":
        images = [assemble_quilt(rendered, config.plan.quilt)]
    elif config.format == "views":
        images = list(rendered)
    else:
        h = views.height_px
        photo = face.extras.get("crop_unmatted_rgb_u8", face.crop_rgb_u8)
        drv = driver.extras.get("crop_unmatted_rgb_u8", driver.crop_rgb_u8)
        panels = [cv2.resize(p, (h, h), interpolation=cv2.INTER_AREA) for p in (photo, drv)]
        images = [np.concatenate([*panels, rendered[0]], axis=1)]
    for path, img in zip(paths, images, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    h_px, w_px = images[0].shape[:2]
    return RenderResult(
        paths=paths,
        frames_total=1,
        frames_rendered=1,
        frames_in_output=1,
        resumed_from=0,
        frames_without_face=0,
        fps=0.0,
        frame_size=(w_px, h_px),
        audio=False,
        interrupted=False,
        elapsed_s=time.monotonic() - t0,
        still=True,
    )
