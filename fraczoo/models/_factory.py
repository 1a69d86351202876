"""Building zoo models and their datamodules by name (timm's ``create_model``).

Start weights for fine-tuning are applied here (``init_weights``), after the model is built: a model's
``__init__`` does no file I/O, so its saved hyperparameters rebuild it anywhere, catalogue or not.
"""
from __future__ import annotations

import importlib
import inspect
import os
from typing import Any, Callable

from fraczoo.models._catalogue import is_file_source, resolve_tag, resolve_weights
from fraczoo.models._registry import datamodule_target, did_you_mean, model_class, split_name
from fraczoo.models._weights import init_hparams, load_backbone_into, load_state_into


def create_model(name: str, pretrained: bool | str | os.PathLike = False, *,
                 init_weights: str | os.PathLike | None = None, **hparams):
    """Build zoo model ``name`` (or ``name.tag``).

    ``pretrained``: True loads the catalogue weights of that tag (the default tag for a bare name), a path
    loads that file; ``hparams`` override the model's (or the pretrained weights') hyperparameters.
    ``init_weights``: a pretrained name or weights file whose backbone initialises the new model's
    (fine-tuning; the head stays fresh), see ``load_backbone``.
    """
    base, tag = split_name(name)
    cls = model_class(base)
    check_hparam_names(cls, hparams, f"model {base!r}")
    if pretrained is False or pretrained is None:
        if tag is not None:
            resolve_tag(base, tag)  # fail early on a misspelt tag
        model = cls(**hparams)
    elif pretrained is True:
        model = _from_weights(cls, base, *resolve_weights(f"{base}.{tag}" if tag else base), hparams)
    elif isinstance(pretrained, (str, os.PathLike)):
        model = _from_weights(cls, base, *resolve_weights(pretrained), hparams)
    else:
        raise TypeError(f"pretrained must be a bool, a path or a URL, got {type(pretrained).__name__}")
    if init_weights is not None:
        load_backbone(model, init_weights)
    return model


def _from_weights(cls, base: str, payload: dict, source: str, hparams: dict):
    if payload.get("model") and payload["model"] != base:
        raise ValueError(f"{source} holds weights of model {payload['model']!r}, not {base!r}; load it with "
                         f"create_model({payload['model']!r}, pretrained=...)")
    saved = init_hparams(payload["hparams"])
    foreign = sorted(set(saved) - set(init_names(cls) or saved))
    if foreign:  # e.g. a Lightning checkpoint of another model, which does not name its model
        raise ValueError(f"{source} holds hyperparameters {', '.join(foreign)} that model {base!r} does not "
                         "take: it is not a checkpoint of this model")
    model = cls(**{**saved, **hparams})
    load_state_into(model, payload, source)
    return model


def load_pretrained(source: str | os.PathLike, *, sha256: str | None = None, **hparams):
    """A zoo model with pretrained weights. ``source``: a pretrained name (``name`` or ``name.tag``, the same
    as ``create_model(name, pretrained=True)``), a weights or Lightning checkpoint file, or an http(s) URL
    of one, downloaded once into ``$FRACZOO_HOME`` and served from there afterwards. ``sha256``: the file's
    expected hash, checked before it is read. ``hparams`` override the saved hyperparameters."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a pretrained name, a path or a URL (str), got {type(source).__name__}")
    if not is_file_source(source):
        if sha256 is not None:
            raise ValueError("sha256 is for a file or URL; catalogue weights carry their own hash")
        return create_model(source, pretrained=True, **hparams)
    payload, where = resolve_weights(source, sha256=sha256)
    if not payload.get("model"):
        raise ValueError(f"{where} does not say which zoo model it holds (a checkpoint of a model outside the "
                         "zoo?); load it with create_model(name, pretrained=path)")
    cls = model_class(payload["model"])
    check_hparam_names(cls, hparams, f"model {payload['model']!r}")
    return _from_weights(cls, payload["model"], payload, where, hparams)


def load_backbone(model, source: str | os.PathLike) -> None:
    """Initialise ``model.backbone`` (and any ``*_backbone`` child) from a pretrained name (``name`` /
    ``name.tag``) or a weights or checkpoint file; the rest of the model (its heads) is left as it is. Every
    backbone tensor must be present in the source with the same shape, so a mismatch is an error, not a silent
    partial load."""
    payload, where = resolve_weights(source)
    load_backbone_into(model, payload, where)


def _import_string(target: Any) -> Callable:
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


def create_datamodule(name: str, **hparams):
    """The default LightningDataModule of zoo model ``name``, built with ``hparams``."""
    cls = _import_string(datamodule_target(name))
    check_hparam_names(cls, hparams, f"the datamodule of {split_name(name)[0]!r} ({cls.__name__})")
    return cls(**hparams)


def init_names(cls) -> list[str] | None:
    """The keyword arguments ``cls(...)`` takes, or None when it takes any (``**kwargs``)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # drop self
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_hparam_names(cls, hparams: dict, what: str) -> None:
    """A TypeError that names each unknown keyword and lists the valid ones (the bare Python error does not)."""
    valid = init_names(cls)
    unknown = [key for key in hparams if valid is not None and key not in valid]
    if unknown:
        hints = "".join(did_you_mean(key, valid) for key in unknown)
        raise TypeError(f"unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(repr, unknown))} for {what}; valid: {', '.join(valid)}.{hints}")
