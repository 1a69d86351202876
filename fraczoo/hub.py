"""The zoo's public front: ``list_models``, ``list_pretrained``, ``create_model``, ``load_pretrained``,
``save_pretrained``, ``create_datamodule`` (also as ``fraczoo.<name>``).

Thin by design (timm's split): the name tables live in ``fraczoo.models._registry``, the weights format
in ``fraczoo.models._weights``, the catalogue in ``fraczoo.models._catalogue`` and model building in
``fraczoo.models._factory``; importing this module imports every zoo model.
"""
from __future__ import annotations

import os

from fraczoo.models._catalogue import list_pretrained
from fraczoo.models._factory import create_datamodule, create_model, load_backbone, load_pretrained
from fraczoo.models._registry import UnknownNameError, list_models, register_model
from fraczoo.models._weights import save_weights

__all__ = ["UnknownNameError", "create_datamodule", "create_model", "list_models", "list_pretrained",
           "load_backbone", "load_pretrained", "register_model", "save_pretrained"]


def save_pretrained(model, path: str | os.PathLike, metrics: dict | None = None) -> str:
    """Write ``model`` (any zoo model) as a checksummed weights file that ``load_pretrained(path)`` and
    ``create_model(name, pretrained=path)`` read; ``metrics`` (name -> number) are stored with it.
    Returns the file's sha256."""
    return save_weights(model, path, **({"metrics": metrics} if metrics is not None else {}))
