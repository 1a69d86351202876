"""The zoo's name tables, timm-style: ``@register_model`` fills them when a model file is imported.

Importing anything from ``fraczoo.models`` imports every model file first (``fraczoo/models/__init__.py``),
so the tables are complete whenever this module is reachable. Names are the model files' names.
"""
from __future__ import annotations

import difflib
from typing import Any

_MODELS: dict[str, type] = {}        # zoo name -> LightningModule class
_DATAMODULES: dict[str, Any] = {}    # zoo name -> its default datamodule: a class or "module:Class"


class UnknownNameError(ValueError, KeyError):
    """An unknown model, tag or datamodule name (a ValueError and a KeyError)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def register_model(cls: type | None = None, *, name: str | None = None, datamodule: Any = None):
    """Class decorator: register a zoo LightningModule under ``name`` (default: its module's file name).

    ``datamodule`` is its default LightningDataModule, a class or a ``"module:Class"`` string.
    """

    def wrap(model_cls: type) -> type:
        key = name or model_cls.__module__.rsplit(".", 1)[-1]
        _MODELS[key] = model_cls
        _DATAMODULES[key] = datamodule
        model_cls.zoo_name = key
        return model_cls

    return wrap(cls) if cls is not None else wrap


def list_models() -> list[str]:
    """Names of all zoo models, sorted."""
    return sorted(_MODELS)


def did_you_mean(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def split_name(name: str) -> tuple[str, str | None]:
    """``"model"`` or ``"model.tag"`` -> (model, tag or None); the model must be registered."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    base, _, tag = name.partition(".")
    if base not in _MODELS:
        models = list_models()
        raise UnknownNameError(f"unknown model {base!r}; available: {', '.join(models)}." + did_you_mean(base, models))
    return base, (tag or None)


def model_class(name: str) -> type:
    """The LightningModule class registered as ``name`` (a tag after a dot is ignored)."""
    return _MODELS[split_name(name)[0]]


def datamodule_target(name: str) -> Any:
    """The default datamodule of model ``name``, as registered (class or "module:Class")."""
    base, _ = split_name(name)
    target = _DATAMODULES.get(base)
    if target is None:
        raise UnknownNameError(f"model {base!r} has no default datamodule")
    return target


def class_path_of(cls: type) -> str:
    """``module.Class``: how LightningCLI names a class (``class_path``; stored in a checkpoint's hparams)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def name_of_class_path(class_path) -> str | None:
    """The zoo name of the LightningModule at ``class_path`` (LightningCLI stores it in the hparams)."""
    if not isinstance(class_path, str):
        return None
    for key, cls in _MODELS.items():
        if class_path in (class_path_of(cls), cls.__qualname__):
            return key
    return None
