"""AnDi 2020 sets made by the organisers' own generator, read from the arrays ``scripts/andi_official.sh`` writes.

The organisers' package (``andi-datasets`` 2.1.13, ``challenge_theory_dataset``) needs an old numpy, so
fraczoo never imports it: ``scripts/andi_official.sh task1 --dim D --n N --seed S`` runs it in its own
virtualenv and saves ``data/andi_official/task1_<D>d_n<N>_seed<S>.npz`` (``np.savez_compressed``):

* ``positions`` (sum of lengths, dim) float32: the trajectories one after the other;
* ``lengths`` (n,) int, ``alpha`` (n,) float, ``model`` (n,) int (codes into attm, ctrw, fbm, lw, sbm);
* ``meta``: a JSON string (generator version, call, seeds).

``load_official`` turns such a file, or several one after the other, into a zero-padded ``Trajectories``
(no network, no andi-datasets).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fraczoo.datamodules.andi import MODEL_NAMES, Trajectories

MAKE_COMMAND = "scripts/andi_official.sh task1 --dim <1|2|3> --n <n> --seed <seed>"
_KEYS = ("positions", "lengths", "alpha", "model")


def load_official(path) -> Trajectories:
    """The trajectories of an official-generator file, padded: ``Trajectories`` (positions float32).

    ``path``: a file, or a list of files whose trajectories are taken one after the other (e.g. sets of
    several seeds). Raises FileNotFoundError (naming the script that makes such files) when a file does
    not exist, ValueError when a file lacks an array, the arrays do not fit together, the list is empty
    or the files differ in dimension.
    """
    paths = list(path) if isinstance(path, (list, tuple)) else [path]
    if not paths:
        raise ValueError("load_official needs a file or a non-empty list of files, got []")
    # the flat arrays of all files first, padded once: a padded copy per file would double the peak memory
    sets = [_read_official(p) for p in paths]
    dims = [positions.shape[1] for positions, *_ in sets]
    if len(set(dims)) > 1:
        raise ValueError(f"the files {list(map(str, paths))} hold trajectories of different dimensions ({dims})")
    positions, lengths, alpha, model = (np.concatenate(parts) for parts in zip(*sets))
    width = int(lengths.max())
    padded = np.zeros((len(lengths), width, positions.shape[1]), dtype=np.float32)
    padded[np.arange(width)[None, :] < lengths[:, None]] = positions  # row-major: trajectory after trajectory
    return Trajectories(padded, lengths.astype(np.int64), alpha.astype(np.float64), model.astype(np.int64))


def _read_official(path) -> tuple[np.ndarray, ...]:
    """The flat arrays (positions, lengths, alpha, model) of one official-generator file, checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Official AnDi arrays are made by `{MAKE_COMMAND}` "
                                f"(writes data/andi_official/task1_<dim>d_n<n>_seed<seed>.npz; its first run "
                                f"installs andi-datasets into .venv-andi)")
    with np.load(path, allow_pickle=False) as arrays:
        missing = [key for key in _KEYS if key not in arrays.files]
        if missing:
            raise ValueError(f"{path} lacks the array(s) {', '.join(missing)}; expected {', '.join(_KEYS)} "
                             f"(written by {MAKE_COMMAND})")
        positions, lengths, alpha, model = (arrays[key] for key in _KEYS)
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays.files else {}
    n = len(lengths)
    if (positions.ndim != 2 or lengths.ndim != 1 or alpha.shape != (n,) or model.shape != (n,) or n == 0
            or not np.issubdtype(lengths.dtype, np.integer) or lengths.min() < 2 or lengths.sum() != len(positions)):
        raise ValueError(f"{path}: positions {positions.shape}, lengths {lengths.shape}, alpha {alpha.shape} and "
                         f"model {model.shape} do not fit together (positions must be (sum of lengths, dim), "
                         f"lengths >= 2)")
    if not np.isin(model, np.arange(len(MODEL_NAMES))).all():
        raise ValueError(f"{path}: model codes must lie in 0..{len(MODEL_NAMES) - 1} ({', '.join(MODEL_NAMES)})")
    names = tuple(meta.get("model_names", MODEL_NAMES))
    if names != MODEL_NAMES:
        raise ValueError(f"{path}: model names {names} differ from fraczoo's {MODEL_NAMES}")
    return positions, lengths, alpha, model
