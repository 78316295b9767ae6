#!/usr/bin/env bash
# Fills .devcheck/ (git-ignored) with what tests/gpu/device_check.sh needs on the GPU machine and
# that machine cannot download. Run once on a machine with network access, from the repository
# root, with the specs folder beside the repository (../shared):
#
#   bash tests/gpu/prepare_carry.sh
#
# .devcheck/wheels  pyzmq, moderngl, glcontext, platformdirs (every step); mediapipe and
#                   protobuf 4 (the live-call bench's tracking only), for CPython 3.12 x86-64
# .devcheck/gl      the GL dispatch libraries (EGL through glvnd) as .deb files
# .devcheck/        make_weights.py + voodoo3d_state_dict.json (the fixture's weight generator) and
#                   fixture.npz: the parity fixture without its two full float16 tri-planes (the
#                   sampled tri-plane values stay; 12 MB instead of 34)
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${SHARED:-../shared}
DEST=.devcheck
PY=${PYTHON:-python3}
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx "/$DEST/" "$exclude" 2>/dev/null || echo "/$DEST/" >>"$exclude"
mkdir -p "$DEST/wheels" "$DEST/gl"

"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform any -d "$DEST/wheels" \
    pyzmq==27.3.0 moderngl==5.13.0 glcontext==3.1.0 platformdirs==4.3.6 mediapipe==0.10.21 protobuf==4.25.9

lists=$(mktemp -d)
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
mkdir -p "$lists/partial"
apt-get $o update -qq
(cd "$DEST/gl" && apt-get $o download -qq libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
rm -rf "$lists"

cp "$SHARED/parity/make_weights.py" "$SHARED/spec/voodoo3d_state_dict.json" "$DEST/"
"$PY" - "$SHARED/parity/fixture_seed3.npz" "$DEST/fixture.npz" <<'EOF'
import sys

import numpy as np

with np.load(sys.argv[1], allow_pickle=False) as z:
    kept = {k: z[k] for k in z.files if k not in ("source_triplane_f16", "exp_delta_f16")}
np.savez_compressed(sys.argv[2], **kept)
EOF
du -sh "$DEST" "$DEST"/*
