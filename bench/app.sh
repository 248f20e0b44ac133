#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark tripdeal-app against nginx on loopback (see bench/README.md).
# usage: bench/app.sh BUILD_DIR [--duration 10] [--connections 200] [--threads 2] [--json out.json]
set -eu
if [ $# -lt 1 ]; then
        echo "usage: $0 BUILD_DIR [--duration S] [--connections N] [--threads N] [--json FILE]" >&2
        exit 2
fi
exec python3 "$(dirname "$0")/app_bench.py" "$@"
