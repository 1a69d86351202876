"""Where pretrained weights are found: the catalogue ``models/<name>/`` and its ``pretrained.yaml``.

Each model's folder lists its weights in ``pretrained.yaml``::

    default: fields
    tags:
      fields: {file: fields.pt, sha256: 3f2a..., description: "..."}

The catalogue is ``$FRACZOO_CATALOGUE`` when set, else ``models/`` in the catalogue root: the
``fraczoo/_catalogue`` folder an installed wheel carries (see setup.py), or the repository beside the
package in a clone or an editable install. The root also holds the data configs (``datamodules/``) and the
callback configs (``callbacks/``) the command line finds by name.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from fraczoo.models._registry import UnknownNameError, did_you_mean, list_models, split_name
from fraczoo.models._weights import read_weights, sha256_of

WEIGHT_SUFFIXES = {".pt", ".ckpt", ".pth"}


def catalogue_root() -> Path:
    """The folder holding ``models/``, ``datamodules/`` and ``callbacks/``: inside the installed package,
    else the repository the package sits in."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_catalogue"
    return packaged if packaged.is_dir() else package.parent


def catalogue_dir() -> Path:
    """The model catalogue: ``$FRACZOO_CATALOGUE``, else ``catalogue_root() / "models"``."""
    env = os.environ.get("FRACZOO_CATALOGUE")
    return Path(env) if env else catalogue_root() / "models"


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


def is_url(spec) -> bool:
    return isinstance(spec, str) and urllib.parse.urlparse(spec).scheme in ("http", "https")


def is_file_source(spec) -> bool:
    """Whether ``spec`` names a weights file (a URL, a path ending in .pt/.pth/.ckpt, or an existing file)
    rather than a pretrained name."""
    return is_url(spec) or Path(spec).suffix in WEIGHT_SUFFIXES or Path(spec).is_file()


def cache_dir() -> Path:
    """Where downloaded weights are kept: ``$FRACZOO_HOME/weights`` (default ``~/.cache/fraczoo/weights``)."""
    home = os.environ.get("FRACZOO_HOME") or Path.home() / ".cache" / "fraczoo"
    return Path(home) / "weights"


def cached_download(url: str, sha256: str | None = None) -> Path:
    """The local copy of the weights file at ``url``: downloaded once into ``cache_dir()`` (the torch.hub
    convention), then served from there without the network. With ``sha256`` the download is checked
    before it is kept: a mismatch raises ValueError and caches nothing."""
    name = Path(urllib.parse.urlparse(url).path).name or "weights.pt"
    path = cache_dir() / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".download-")
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, out)
        except OSError as err:  # URLError, HTTPError, timeouts
            raise OSError(f"could not download weights from {url}: {err}") from err
        if sha256 is not None and sha256_of(tmp) != sha256:
            raise ValueError(f"sha256 mismatch for {url}: expected {sha256}, got {sha256_of(tmp)}; the download "
                             "was not kept (a wrong hash, or the file at the URL changed)")
        read_weights(tmp)  # never cache something that is not a readable weights file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def resolve_weights(spec: str | os.PathLike, *, sha256: str | None = None) -> tuple[dict, str]:
    """``spec`` is a pretrained name (``name`` or ``name.tag``), a path to a weights/checkpoint file, or an
    http(s) URL of one (see ``cached_download``); returns (checked payload, where it came from)."""
    if is_url(spec):
        return read_weights(cached_download(spec, sha256), sha256=sha256), str(spec)
    if is_file_source(spec):
        return read_weights(spec, sha256=sha256), str(spec)
    base, tag = split_name(str(spec))
    tag, entry = resolve_tag(base, tag)
    file = catalogue_dir() / base / entry["file"]
    return read_weights(file, sha256=entry.get("sha256")), f"{base}.{tag} ({file})"
