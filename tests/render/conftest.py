"""Fixtures of the offline-render tests: the bundled sample photos run through the real tracker."""

from __future__ import annotations

import os
from importlib import resources

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def hopper_face():
    """``grace_hopper.jpg`` pre-processed as a source photo (FaceObservation)."""
    from pipeline.tracking import prepare_photo

    return prepare_photo(str(resources.files("assets.samples").joinpath("grace_hopper.jpg")))
