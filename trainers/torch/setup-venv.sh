#!/usr/bin/env bash
# Creates, or brings up to date, the virtual environment of the torch trainer (PyPI only):
#   bash trainers/torch/setup-venv.sh            -> <repo>/.venv-torch (or $MODELFAB_TORCH_VENV)
# Idempotent: a venv whose stamp matches requirements.lock, pyproject.toml and the interpreter is left as it is
# (a second run only checks that the packages import: a few seconds), so CI and developers can call it before every test run.
# PYTHON picks the interpreter (default python3, which must be 3.10 or newer).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${MODELFAB_TORCH_VENV:-$root/.venv-torch}"
python="${PYTHON:-python3}"
lock="$here/requirements.lock"
stamp="$venv/.modelfab-torch-stamp"

"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "setup-venv: $python is $("$python" -V 2>&1); the torch trainer needs Python 3.10 or newer" >&2; exit 1; }

want="$( { cat "$lock" "$here/pyproject.toml"; "$python" -c 'import sys; print(sys.version)'; echo "$here"; } | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && "$venv/bin/python" -c 'import torch, transformers, peft, tokenizers, safetensors, lm_eval, deepspeed, modelfab_torch' 2>/dev/null; then
  echo "setup-venv: $venv is up to date"
  exit 0
fi

start=$(date +%s)
rm -f "$stamp"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup-venv: creating $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
echo "setup-venv: installing $(grep -c '==' "$lock") pinned packages (torch with its CUDA libraries: about 2.7 GB to download)"
"${pip[@]}" install --quiet --requirement "$lock"
# The trainer itself, editable, so `python -m modelfab_torch` runs the working tree from any folder
# (a trainer runs in the data folder). Its dependencies are all in the lock.
"${pip[@]}" install --quiet --no-deps --no-build-isolation --editable "$here"
"$venv/bin/python" -c 'import torch, transformers, peft, modelfab_torch; print("setup-venv: torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)'
echo "$want" > "$stamp"
echo "setup-venv: ready in $(( $(date +%s) - start )) s: $venv"
