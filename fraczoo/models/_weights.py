"""The weights file format: write, read and check, and load into a model.

A weights file is a plain ``torch.save`` dict (loadable with ``weights_only=True``) holding the model's
zoo name, its hyperparameters, its state dict and a ``checksum`` of those; a file's sha256 is checked
before it is read when the caller knows it, and the checksum after (torch's zip reader does not check
CRCs, so a flipped byte inside a tensor would otherwise load silently). Lightning checkpoints are read too.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from fraczoo.models._registry import name_of_class_path

WEIGHTS_FORMAT = "fraczoo-weights/1"
# Constructor arguments that older fraczoo versions stored in hyperparameters and no model takes now
# (fine-tuning start weights are applied by create_model / the CLI, not by the model).
LEGACY_HPARAMS = ("init_weights",)


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_weights(path: str | os.PathLike, *, sha256: str | None = None) -> dict:
    """Read a weights file or Lightning checkpoint: its sha256 first when given, then its structure and,
    for files written by ``save_weights``, the checksum of its contents. A missing file raises
    FileNotFoundError; an empty, truncated, corrupted or foreign one a ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"weights file {path} is empty (0 bytes); it was not written completely")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise ValueError(f"sha256 mismatch for {path}: expected {sha256}, got {actual}. The file is "
                             "corrupted or was replaced; restore it or re-run scripts/make_pretrained.py")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated / not a torch file / unsafe pickle
        raise ValueError(f"could not read weights file {path} ({type(err).__name__}: {err}); it is truncated, "
                         "corrupted or not a file written by torch.save") from err
    if isinstance(payload, dict) and "state_dict" in payload and "hyper_parameters" in payload:
        # a Lightning checkpoint
        hparams = dict(payload["hyper_parameters"])
        payload = {"format": "lightning-checkpoint", "model": name_of_class_path(hparams.get("_class_path")),
                   "hparams": hparams, "state_dict": payload["state_dict"]}
    elif not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a fraczoo weights file (expected format {WEIGHTS_FORMAT!r}) "
                         "nor a Lightning checkpoint; write weights with fraczoo.save_pretrained")
    _check_payload(payload, path)
    return payload


def _check_payload(payload: dict, path: Path) -> None:
    """The structure every loader relies on, and the checksum when the file has one."""
    state = payload.get("state_dict")
    if not isinstance(payload.get("hparams"), dict) or not isinstance(state, dict) or not state \
            or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{path} is damaged: it needs an 'hparams' dict and a non-empty 'state_dict' of "
                         "named tensors")
    expected = payload.get("checksum")
    if expected is not None:
        actual = _payload_checksum(payload)
        if actual != expected:
            raise ValueError(f"checksum mismatch in {path}: its contents (model name, hyperparameters or "
                             f"tensors) changed after it was written (stored {expected}, computed {actual}); "
                             "the file is corrupted")


def _payload_checksum(payload: dict) -> str:
    """sha256 over every entry but the tensors (as JSON: model name, tag, hyperparameters, extras) and
    every tensor's name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    meta = {k: v for k, v in payload.items() if k not in ("state_dict", "checksum")}
    digest.update(json.dumps(meta, sort_keys=True, default=repr).encode())
    for key in sorted(payload["state_dict"]):
        value = payload["state_dict"][key].detach().cpu().contiguous()
        digest.update(f"\0{key}\0{value.dtype}\0{tuple(value.shape)}\0".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def init_hparams(hparams) -> dict:
    """The constructor arguments in saved hparams, without LightningCLI's bookkeeping keys
    (``_class_path``, ``_instantiator``) and legacy keys, which are not arguments of the model."""
    return {k: v for k, v in dict(hparams).items() if not k.startswith("_") and k not in LEGACY_HPARAMS}


def plain(obj):
    """Hyperparameters as builtins only, so weights load with ``weights_only=True``."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"hyperparameter value {obj!r} of type {type(obj).__name__} cannot be stored in a "
                    "weights file; use builtins (numbers, strings, lists, dicts)")


def save_weights(model, path: str | os.PathLike, *, tag: str | None = None, **extra) -> str:
    """Write ``model``'s hyperparameters and state dict as a weights file; returns its sha256.

    ``extra`` entries (e.g. ``metrics``) are stored beside them, as builtins, under the checksum."""
    payload = {"format": WEIGHTS_FORMAT, "model": getattr(model, "zoo_name", type(model).__name__),
               "tag": tag, "hparams": plain(init_hparams(model.hparams)),
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
               **plain(extra)}
    payload["checksum"] = _payload_checksum(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written file under the real name
    return sha256_of(path)


def load_state_into(model, payload: dict, source: str) -> None:
    """Load a weights payload into ``model`` strictly, with an error that says what did not fit."""
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise ValueError(f"weights in {source} do not fit {type(model).__name__} with its current "
                         f"hyperparameters: {err}") from err


def load_backbone_into(model, payload: dict, source: str) -> None:
    """Initialise ``model.backbone`` (and any other ``*_backbone`` child, e.g. a length expert's) from a
    payload's tensors under the same name (fine-tuning: the heads stay fresh). Every tensor of each of
    those backbones must be present with the same shape: a mismatch is an error, not a silent partial load."""
    names = [name for name, _ in model.named_children() if name == "backbone" or name.endswith("_backbone")]
    for name in names:
        prefix = name + "."
        wanted = {k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
        if not wanted:
            raise ValueError(f"{source} has no {name} weights to initialise {type(model).__name__}'s {name} from")
        try:
            getattr(model, name).load_state_dict(wanted, strict=True)
        except RuntimeError as err:
            raise ValueError(f"the {name} in {source} does not fit {type(model).__name__}'s {name}: {err}") from err
