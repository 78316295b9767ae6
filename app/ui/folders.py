"""Choosing a folder of photos inside the selection window (no native dialog is needed).

The chooser is what a first run without photos shows: the bundled sample photos, the folders
of this computer that hold photos (:func:`likely_folders`), and a path field with Tab
completion for any other folder. Pure core: it reads the file system but draws nothing and
knows no pyglet; the window feeds it keys by name, typed text and clicks (top-down pixels),
and gets back an :class:`OpenFolder` when the user chose one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from app.text import plural
from app.ui.photo_grid import Rect
from pipeline.capture import IMAGE_SUFFIXES

__all__ = [
    "FolderChooser",
    "FolderEntry",
    "OpenFolder",
    "PathField",
    "count_photos",
    "likely_folders",
    "short_path",
]

#: Entries shown at most in the list of likely folders.
MAX_ENTRIES = 7


def count_photos(folder: Path) -> int:
    """Image files directly in ``folder`` (0 when it cannot be read)."""
    try:
        with os.scandir(folder) as it:
            return sum(
                1
                for e in it
                if not e.name.startswith(".")
                and Path(e.name).suffix.lower() in IMAGE_SUFFIXES
                and e.is_file()
            )
    except OSError:
        return 0


def short_path(path: Path, home: Path | None = None) -> str:
    """``~/Pictures`` for a folder under the home folder, else the whole path."""
    home = home or Path.home()
    try:
        rel = path.resolve().relative_to(home.resolve())
    except ValueError:
        return str(path)
    return "~" if str(rel) == "." else f"~/{rel.as_posix()}"


@dataclass(frozen=True)
class FolderEntry:
    """One line of the chooser's list: ``label`` and ``note`` (e.g. ``12 photos``) to show."""

    path: Path
    label: str
    note: str
    kind: Literal["samples", "folder"] = "folder"


def likely_folders(
    home: Path,
    extra: Iterable[tuple[Path, str]] = (),
    skip: Iterable[Path] = (),
    limit: int = MAX_ENTRIES,
) -> list[FolderEntry]:
    """Folders of this computer that hold photos, most likely first.

    Looks at ``extra`` (e.g. the platform's Pictures folder and where webcam photos are kept,
    each with its label), then the usual folders under ``home`` (Pictures, Photos, Downloads,
    Desktop, Documents, the home folder itself) and one level of sub-folders of the picture
    folders. Only folders with at least one photo are listed; ``skip`` leaves some out.
    """
    seen = {p.resolve() for p in skip}
    out: list[FolderEntry] = []
    candidates: list[tuple[Path, str]] = list(extra)
    for name in ("Pictures", "Photos", "Images", "Downloads", "Desktop", "Documents"):
        candidates.append((home / name, ""))
    candidates.append((home, ""))
    for base in (home / "Pictures", home / "Photos"):
        try:
            subs = sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")), key=str)
        except OSError:
            subs = []
        candidates.extend((p, "") for p in subs[:20])
    for path, label in candidates:
        if len(out) >= limit:
            break
        try:
            key = path.resolve()
        except OSError:
            continue
        if key in seen or not path.is_dir():
            continue
        seen.add(key)
        n = count_photos(path)
        if n:
            out.append(FolderEntry(path, label or short_path(path, home), plural(n, "photo")))
    return out


@dataclass
class PathField:
    """A one-line text field holding a folder path (typed, edited, completed with Tab)."""

    text: str = ""

    def type(self, text: str) -> None:
        self.text += "".join(ch for ch in text if ch.isprintable())

    def backspace(self) -> None:
        self.text = self.text[:-1]

    def complete(self) -> list[str]:
        """Tab: extend the last part of the path as far as the sub-folders that match agree;
        returns the matching names (several when it is ambiguous)."""
        text = self.text or "~/"
        path = Path(os.path.expanduser(text))
        parent, stem = (path, "") if text.endswith(("/", os.sep)) else (path.parent, path.name)
        try:
            names = sorted(
                p.name
                for p in parent.iterdir()
                if p.is_dir()
                and p.name.startswith(stem)
                and (stem.startswith(".") or not p.name.startswith("."))
            )
        except OSError:
            return []
        if not names:
            return []
        common = os.path.commonprefix(names)
        head = text[: len(text) - len(stem)]
        self.text = head + common + ("/" if len(names) == 1 else "")
        return names

    def folder(self) -> Path:
        return Path(os.path.expanduser(self.text.strip())).absolute()


@dataclass(frozen=True)
class OpenFolder:
    """The user chose ``path`` (``samples`` when it is the bundled sample photos)."""

    path: Path
    samples: bool = False


ChooserEvent = OpenFolder | Literal["back", "quit"]


@dataclass
class FolderChooser:
    """State of the chooser: the path field, the list, and which of them has the focus.

    ``focus`` is -1 for the path field, else an index into ``entries``. ``message`` says why
    the chooser is shown (e.g. "There is no Pictures folder"); ``error`` what went wrong with
    the last folder typed.
    """

    path_field: PathField = field(default_factory=PathField)
    entries: list[FolderEntry] = field(default_factory=list)
    focus: int = 0
    message: str = ""
    error: str = ""
    can_go_back: bool = False

    def __post_init__(self) -> None:
        if not self.entries:
            self.focus = -1

    def handle_key(self, name: str) -> ChooserEvent | None:
        """Keys by name: up/down move the focus, Enter opens, Tab completes, Esc goes back."""
        self.error = ""
        if name == "escape":
            return "back" if self.can_go_back else "quit"
        if name == "up":
            self.focus = max(-1, self.focus - 1)
        elif name == "down":
            self.focus = min(len(self.entries) - 1, self.focus + 1)
        elif name == "tab":
            self.focus = -1
            matches = self.path_field.complete()
            if len(matches) > 1:
                self.error = "  ".join(matches[:8]) + ("  ..." if len(matches) > 8 else "")
            elif not matches:
                self.error = "no folder starts like that"
        elif name == "backspace":
            self.focus = -1
            self.path_field.backspace()
        elif name == "enter":
            return self._open_focused()
        return None

    def handle_text(self, text: str) -> None:
        """Typed characters go to the path field (which takes the focus)."""
        if not any(ch.isprintable() for ch in text):
            return
        self.focus, self.error = -1, ""
        self.path_field.type(text)

    def handle_click(
        self, px: float, py: float, field_rect: Rect, entry_rects: list[Rect]
    ) -> ChooserEvent | None:
        if field_rect.contains(px, py):
            self.focus = -1
            return None
        for i, r in enumerate(entry_rects):
            if r.contains(px, py):
                self.focus = i
                return self._open_focused()
        return None

    def _open_focused(self) -> OpenFolder | None:
        if self.focus >= 0:
            e = self.entries[self.focus]
            return OpenFolder(e.path, samples=e.kind == "samples")
        if not self.path_field.text.strip():
            self.error = "type the path of a folder with your photos"
            return None
        path = self.path_field.folder()
        if not path.is_dir():
            self.error = f"{self.path_field.text.strip()} is not a folder"
            return None
        return OpenFolder(path)
