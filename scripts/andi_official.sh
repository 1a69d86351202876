#!/usr/bin/env bash
# Build AnDi 2020 sets with the organisers' generator (andi-datasets 2.1.13) in its own virtualenv.
#   scripts/andi_official.sh task1 --dim 1 --n 20000 --seed 1   # -> data/andi_official/task1_1d_n20000_seed1.npz
# Creates .venv-andi (gitignored) on first use; see scripts/andi_official.py for what is generated.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-andi"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import andi_datasets" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$root/scripts/andi_official_requirements.txt"
fi
exec "$venv/bin/python" "$root/scripts/andi_official.py" "$@"
