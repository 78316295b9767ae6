"""Makes the packages named in ``DEVICE_CHECK_ABSENT`` unimportable (CPU dry runs of the GPU check).

``device_check.py --tiny`` puts this folder first on ``PYTHONPATH`` of every step, so the dry run
fails the way the GPU machine would if a step imported a package that machine lacks (mediapipe,
pyglet...). Python imports ``sitecustomize`` by itself at start-up. A ``None`` entry in
``sys.modules`` is Python's own way to say "not available": ``import`` raises
``ModuleNotFoundError`` and ``importlib.util.find_spec`` returns ``None``.
"""

import os
import sys

for _name in filter(None, os.environ.get("DEVICE_CHECK_ABSENT", "").split(",")):
    sys.modules.setdefault(_name, None)
