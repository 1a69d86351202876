"""Where pretrained weights are found: the catalogue ``models/<name>/`` and its ``pretrained.yaml``.

Each model's folder lists its weights in ``pretrained.yaml``::

    default: fields
    tags:
      fields: {file: fields.pt, sha256: 3f2a..., description: "..."}

The catalogue is ``$FRACZOO_CATALOGUE`` when set, else the ``models/`` folder beside the package.
"""
from __future__ import annotations

import os
from pathlib import Path

from fraczoo.models._registry import UnknownNameError, did_you_mean, list_models, split_name
from fraczoo.models._weights import read_weights


def catalogue_dir() -> Path:
    """The catalogue folder: ``$FRACZOO_CATALOGUE`` or ``models/`` beside the package."""
    env = os.environ.get("FRACZOO_CATALOGUE")
    return Path(env) if env else Path(__file__).resolve().parent.parent.parent / "models"


def pretrained_index(name: str) -> dict:
    """Model ``name``'s ``pretrained.yaml`` as {"default": tag or None, "tags": {tag: entry}}."""
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
    return sorted(f"{m}.{t}" for m in list_models() for t in pretrained_index(m)["tags"])


def resolve_tag(base: str, tag: str | None) -> tuple[str, dict]:
    """(tag, its catalogue entry) for model ``base``; ``tag`` None means the default tag."""
    index = pretrained_index(base)
    tags = index["tags"]
    if not tags:
        raise UnknownNameError(f"model {base!r} has no pretrained weights in {catalogue_dir() / base}; "
                               "run scripts/make_pretrained.py to make them")
    tag = tag or index["default"]
    if tag not in tags:
        raise UnknownNameError(f"unknown pretrained tag {tag!r} for {base!r}; available: "
                               f"{', '.join(sorted(tags))}." + did_you_mean(tag, tags))
    return tag, tags[tag]


def resolve_weights(spec: str | os.PathLike) -> tuple[dict, str]:
    """``spec`` is a path to a weights/checkpoint file or a pretrained name (``name`` or ``name.tag``);
    returns (checked payload, a description of where it came from)."""
    path = Path(spec)
    if path.suffix in {".pt", ".ckpt", ".pth"} or path.is_file():
        return read_weights(path), str(path)
    base, tag = split_name(str(spec))
    tag, entry = resolve_tag(base, tag)
    file = catalogue_dir() / base / entry["file"]
    return read_weights(file, sha256=entry.get("sha256")), f"{base}.{tag} ({file})"
