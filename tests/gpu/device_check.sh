#!/usr/bin/env bash
# Every GPU check of the neural path in one run; each result as JSON in $OUT.
#
#   on the lent GPU machine, from the repository root:   bash tests/gpu/device_check.sh
#   dry run on any CPU machine:                           DEVICE=cpu TINY=1 OUT=DIR bash tests/gpu/device_check.sh
#
# The project runs from this tree (PYTHONPATH) on the machine's own Python packages: nothing of
# the project is pip-installed, so its CPU-only pins (numpy<2, the CPU torch) never apply. Inputs
# the machine lacks travel in .devcheck/ (made by tests/gpu/prepare_carry.sh). Environment:
# OUT (results, default ./device-check-out), DEVICE (cuda|cpu), TINY=1, BUDGET_S (default 460),
# CARRY (default .devcheck), PYTHON (default python3), ONLY (comma-separated step names: a rerun).
# Steps and files: tests/gpu/device_check.py.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/device-check-out}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
args=(--out "$OUT" --work "$WORK" --carry "${CARRY:-.devcheck}" --device "${DEVICE:-cuda}" --budget "${BUDGET_S:-460}")
if [ "${TINY:-0}" = 1 ]; then
    args+=(--tiny)
fi
if [ -n "${ONLY:-}" ]; then
    args+=(--only "$ONLY")
fi
PY=${PYTHON:-python3}
"$PY" tests/gpu/device_check.py --python "$PY" "${args[@]}"
