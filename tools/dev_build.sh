#!/usr/bin/env bash
# Developer build: compiles fastdl._C into python/fastdl so that `PYTHONPATH=python pytest`
# runs against the working tree. Usage: tools/dev_build.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FASTDL_BUILD_DIR:-build/dev}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTDL_INPLACE=ON \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python3)" "$@" >/dev/null
cmake --build "$BUILD" -j 2
