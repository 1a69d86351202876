"""The zoo registry: ``list_models``, ``create_model``, ``load_pretrained``, ``create_datamodule``.

timm-style: each zoo model is one file in ``fraczoo/models`` whose LightningModule is decorated with
``@register_model(datamodule=...)``. Pretrained weights live in the catalogue ``models/<name>/`` beside
the package (or ``$FRACZOO_CATALOGUE``), listed in ``models/<name>/pretrained.yaml``::

    default: fields
    tags:
      fields: {file: fields.pt, sha256: 3f2a..., description: "..."}

A weights file is a plain ``torch.save`` dict (loadable with ``weights_only=True``) holding the model's
name, its hyperparameters, its state dict and a ``checksum`` of those three; a catalogue file's sha256 is
checked before it is read, and the checksum after (torch's zip reader does not check CRCs, so a flipped
byte inside a tensor would otherwise load silently).
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

WEIGHTS_FORMAT = "fraczoo-weights/1"

_MODELS: dict[str, type] = {}
_DATAMODULES: dict[str, Any] = {}


class UnknownNameError(ValueError, KeyError):
    """An unknown model, tag or datamodule name (a ValueError and a KeyError)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def register_model(cls: type | None = None, *, name: str | None = None, datamodule: Any = None):
    """Class decorator: register a zoo LightningModule under ``name`` (default: the module's file name).

    ``datamodule`` is its default LightningDataModule, a class or a ``"module:Class"`` string.
    """

    def wrap(model_cls: type) -> type:
        key = name or model_cls.__module__.rsplit(".", 1)[-1]
        _MODELS[key] = model_cls
        _DATAMODULES[key] = datamodule
        model_cls.zoo_name = key
        return model_cls

    return wrap(cls) if cls is not None else wrap


def _import_zoo() -> None:
    importlib.import_module("fraczoo.models")


def _did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def list_models() -> list[str]:
    """Names of all zoo models, sorted."""
    _import_zoo()
    return sorted(_MODELS)


def catalogue_dir() -> Path:
    """The catalogue folder: ``$FRACZOO_CATALOGUE`` or ``models/`` beside the package."""
    env = os.environ.get("FRACZOO_CATALOGUE")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "models"


def _pretrained_index(name: str) -> dict:
    path = catalogue_dir() / name / "pretrained.yaml"
    if not path.is_file():
        return {"default": None, "tags": {}}
    import yaml

    with open(path) as f:
        index = yaml.safe_load(f) or {}
    index.setdefault("tags", {})
    index.setdefault("default", next(iter(index["tags"]), None))
    return index


def list_pretrained() -> list[str]:
    """All ``name.tag`` pretrained weights in the catalogue, sorted."""
    return sorted(f"{m}.{t}" for m in list_models() for t in _pretrained_index(m)["tags"])


def _split_name(name: str) -> tuple[str, str | None]:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    models = list_models()
    base, _, tag = name.partition(".")
    if base not in _MODELS:
        raise UnknownNameError(f"unknown model {base!r}; available: {', '.join(models)}."
                               + _did_you_mean(base, models))
    return base, (tag or None)


def _resolve_tag(base: str, tag: str | None) -> tuple[str, dict]:
    index = _pretrained_index(base)
    tags = index["tags"]
    if not tags:
        raise UnknownNameError(f"model {base!r} has no pretrained weights in {catalogue_dir() / base}; "
                               "run scripts/make_pretrained.py to make them")
    tag = tag or index["default"]
    if tag not in tags:
        raise UnknownNameError(f"unknown pretrained tag {tag!r} for {base!r}; available: "
                               f"{', '.join(sorted(tags))}." + _did_you_mean(tag, tags))
    return tag, tags[tag]


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
        payload = {"format": "lightning-checkpoint", "model": _name_of_class_path(hparams.get("_class_path")),
                   "hparams": hparams, "state_dict": payload["state_dict"]}
    elif not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{path} is not a fraczoo weights file (expected format {WEIGHTS_FORMAT!r}) "
                         "nor a Lightning checkpoint; write weights with fraczoo.hub.save_weights")
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


def _name_of_class_path(class_path) -> str | None:
    """The zoo name of the LightningModule at ``class_path`` (LightningCLI stores it in the hparams)."""
    if not isinstance(class_path, str):
        return None
    _import_zoo()
    for key, cls in _MODELS.items():
        if class_path in (f"{cls.__module__}.{cls.__qualname__}", cls.__qualname__):
            return key
    return None


def _init_hparams(hparams) -> dict:
    """The constructor arguments in saved hparams, without LightningCLI's bookkeeping keys
    (``_class_path``, ``_instantiator``), which are not arguments of the model."""
    return {k: v for k, v in dict(hparams).items() if not k.startswith("_")}


def save_weights(model, path: str | os.PathLike, *, tag: str | None = None, **extra) -> str:
    """Write ``model``'s hyperparameters and state dict as a weights file; returns its sha256."""
    payload = {"format": WEIGHTS_FORMAT, "model": getattr(model, "zoo_name", type(model).__name__),
               "tag": tag, "hparams": _plain(_init_hparams(model.hparams)),
               "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, **extra}
    payload["checksum"] = _payload_checksum(payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written file under the real name
    return sha256_of(path)


def _plain(obj):
    """Hyperparameters as builtins only, so weights load with ``weights_only=True``."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"hyperparameter value {obj!r} of type {type(obj).__name__} cannot be stored in a "
                    "weights file; use builtins (numbers, strings, lists, dicts)")


def load_state_into(model, payload: dict, source: str) -> None:
    """Load a weights payload into ``model`` strictly, with an error that says what did not fit (the
    model name is checked by ``create_model`` before it builds the model)."""
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise ValueError(f"weights in {source} do not fit {type(model).__name__} with its current "
                         f"hyperparameters: {err}") from err


def load_backbone(model, spec: str | os.PathLike) -> None:
    """Initialise ``model.backbone`` from a pretrained name or weights file (the head stays fresh).

    Used for fine-tuning (``init_weights`` in the zoo models' configs): every backbone tensor must be
    present in the source with the same shape, so a mismatch is an error, not a silent partial load.
    """
    payload, source = resolve_weights(spec)
    prefix = "backbone."
    wanted = {k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
    if not wanted:
        raise ValueError(f"{source} has no backbone weights to initialise {type(model).__name__} from")
    try:
        model.backbone.load_state_dict(wanted, strict=True)
    except RuntimeError as err:
        raise ValueError(f"the backbone in {source} does not fit {type(model).__name__}'s backbone: {err}") from err


def resolve_weights(spec: str | os.PathLike) -> tuple[dict, str]:
    """``spec`` is a path to a weights/checkpoint file or a pretrained name (``name`` or ``name.tag``)."""
    path = Path(spec)
    if path.suffix in {".pt", ".ckpt", ".pth"} or path.is_file():
        return read_weights(path), str(path)
    base, tag = _split_name(str(spec))
    tag, entry = _resolve_tag(base, tag)
    file = catalogue_dir() / base / entry["file"]
    return read_weights(file, sha256=entry.get("sha256")), f"{base}.{tag} ({file})"


def create_model(name: str, pretrained: bool | str | os.PathLike = False, **hparams):
    """Build zoo model ``name`` (or ``name.tag``); ``pretrained`` True loads the catalogue weights of
    that tag (default tag for a bare name), a path loads that file. ``hparams`` override the model's
    (or the pretrained weights') hyperparameters."""
    base, tag = _split_name(name)
    cls = _MODELS[base]
    _check_hparam_names(cls, hparams, f"model {base!r}")
    if pretrained is False or pretrained is None:
        if tag is not None:
            _resolve_tag(base, tag)  # fail early on a misspelt tag
        return cls(**hparams)
    if pretrained is True:
        payload, source = resolve_weights(f"{base}.{tag}" if tag else base)
    elif isinstance(pretrained, (str, os.PathLike)):
        payload, source = resolve_weights(pretrained)
    else:
        raise TypeError(f"pretrained must be a bool or a path, got {type(pretrained).__name__}")
    if payload.get("model") and payload["model"] != base:
        raise ValueError(f"{source} holds weights of model {payload['model']!r}, not {base!r}; load it with "
                         f"create_model({payload['model']!r}, pretrained=...)")
    saved = _init_hparams(payload["hparams"])
    foreign = sorted(set(saved) - set(_init_names(cls) or saved))
    if foreign:  # e.g. a Lightning checkpoint of another model, which does not name its model
        raise ValueError(f"{source} holds hyperparameters {', '.join(foreign)} that model {base!r} does not "
                         "take: it is not a checkpoint of this model")
    merged = {**saved, **hparams}
    merged.pop("init_weights", None)  # the weights are loaded here, not again in __init__
    model = cls(**merged)
    load_state_into(model, payload, source)
    return model


def load_pretrained(name: str, **hparams):
    """``create_model(name, pretrained=True, **hparams)``."""
    return create_model(name, pretrained=True, **hparams)


def _import_string(target: Any) -> Callable:
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


def create_datamodule(name: str, **hparams):
    """The default LightningDataModule of zoo model ``name``, built with ``hparams``."""
    base, _ = _split_name(name)
    target = _DATAMODULES.get(base)
    if target is None:
        raise UnknownNameError(f"model {base!r} has no default datamodule")
    cls = _import_string(target)
    _check_hparam_names(cls, hparams, f"the datamodule of {base!r} ({cls.__name__})")
    return cls(**hparams)


def _init_names(cls) -> list[str] | None:
    """The keyword arguments ``cls(...)`` takes, or None when it takes any (``**kwargs``)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _check_hparam_names(cls, hparams: dict, what: str) -> None:
    """A TypeError that names each unknown keyword and lists the valid ones (the bare Python error does not)."""
    valid = _init_names(cls)
    unknown = [key for key in hparams if valid is not None and key not in valid]
    if unknown:
        hints = "".join(_did_you_mean(key, valid) for key in unknown)
        raise TypeError(f"unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} for {what}; valid: {', '.join(valid)}.{hints}")
