#!/usr/bin/env bash
# Set up everything the tests need, then run them: a virtual environment with the pinned
# packages, Debian's chromium for the browser tests, and the local PostgreSQL server.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k vote`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip_log=$(mktemp)
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt >"$pip_log" 2>&1; then
  cat "$pip_log"; exit 1
fi
rm -f "$pip_log"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting the local PostgreSQL server..."
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1
# one pytest worker per core, at most 4 ($ARENA_TEST_WORKERS; `-n 0` in the arguments runs in
# this process): each worker has its own PostgreSQL database, demo server and temporary
# files. nproc would count OMP_NUM_THREADS as the cores, so it is left out of nproc's view.
workers=${ARENA_TEST_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 1)}
[ "$workers" -le 4 ] 2>/dev/null || workers=4
# a test file's tests stay on one worker, in order (module fixtures such as the Ray cluster
# start once)
dist=(-n "$workers" --dist loadfile)
[ "$workers" -gt 1 ] || dist=(-n 0)
exec "$venv/bin/python" -m pytest "${dist[@]}" "$@"
