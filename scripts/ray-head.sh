#!/usr/bin/env bash
# A one-node Ray cluster on this machine, for the Ray runner's tests: PyPI's ray[default] (pinned in
# scripts/ray-requirements.lock) in its own virtual environment (.venv-ray/, or $MODELFAB_RAY_VENV), and a head with
# two CPUs whose dashboard (the Jobs REST API) listens on 127.0.0.1:8265. Idempotent: a head already answering is left
# as it is. A stopped job gets 60 s to checkpoint before Ray kills it (RAY_JOB_STOP_WAIT_TIME_S).
#
#   bash scripts/ray-head.sh          # start (or check) the head
#   bash scripts/ray-head.sh stop     # stop it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MODELFAB_RAY_VENV:-$root/.venv-ray}"
lock="$root/scripts/ray-requirements.lock"
port="${MODELFAB_RAY_DASHBOARD_PORT:-8265}"

if [ "${1:-}" = "stop" ]; then
  [ -x "$venv/bin/ray" ] && "$venv/bin/ray" stop --force >/dev/null 2>&1 || true
  echo "ray: stopped"; exit 0
fi

stamp="$venv/.modelfab-ray-stamp"
want="$( { cat "$lock"; python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$venv/bin/ray" ]; then
  echo "ray: installing $(grep -c '==' "$lock") pinned packages into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$lock"
  echo "$want" > "$stamp"
fi

up() { python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:${port}/api/version', timeout=5)" >/dev/null 2>&1; }
if up; then echo "ray: up (dashboard 127.0.0.1:${port})"; exit 0; fi
RAY_JOB_STOP_WAIT_TIME_S=60 "$venv/bin/ray" start --head --num-cpus=2 --num-gpus=0 --dashboard-host=127.0.0.1 --dashboard-port="$port" \
  --disable-usage-stats --include-dashboard=true >/dev/null
for _ in $(seq 1 60); do
  if up; then echo "ray: up (dashboard 127.0.0.1:${port})"; exit 0; fi
  sleep 1
done
echo "ray: the head did not answer on 127.0.0.1:${port}" >&2
exit 1
