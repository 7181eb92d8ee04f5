#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine, idempotently:
#   - Debian packages: OpenBLAS (the native gemm backend), Chromium and a Chinese font (browser tests of the console
#     and the bot widget; playwright-core drives Debian's chromium, nothing downloads a browser of its own);
#   - the npm packages (npm ci) and the native addon (a failed native build is an error here: OpenBLAS is installed);
#   - the torch trainer's Python virtual environment from PyPI (.venv-torch/, trainers/torch/setup-venv.sh);
#   - a one-node Slurm cluster on this machine (Debian's slurm-wlm and munge; scripts/slurm-one-node.sh), which the
#     Slurm runner's tests submit to, and a Ray head (PyPI's ray in .venv-ray/; scripts/ray-head.sh) for the Ray
#     runner's;
#   - a one-node PostgreSQL (Debian's postgresql; scripts/postgres-one-node.sh) with the database `modelfab_test`,
#     which the Store suites and the HTTP end-to-end tests also run on.
# Then `npm test` runs ESLint, both typechecks, the Node tests and the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in libopenblas-dev chromium fonts-wqy-zenhei python3-venv; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund
node scripts/build-native.mjs --strict

bash trainers/torch/setup-venv.sh

bash scripts/slurm-one-node.sh
bash scripts/ray-head.sh
bash scripts/postgres-one-node.sh
