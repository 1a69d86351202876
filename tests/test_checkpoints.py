"""Checkpoints of every zoo model: exact save -> load round trips (weights files and Lightning
checkpoints), ``weights_only=True`` loading, and a clear error, never a silently wrong model, for every
kind of broken file (truncated, flipped bytes, empty, random bytes, sha256 mismatch, another model's
weights, a bare state dict, a missing file), in user files and in the shipped catalogue."""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import lightning as L
import pytest
import torch

import fraczoo
from fraczoo.models import _catalogue, _weights
from tests.conftest import ZOO_SMALL

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: extra intra-op threads only contend

TRAINER = dict(max_epochs=1, limit_train_batches=2, limit_val_batches=1, accelerator="cpu", devices=1,
               logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)


def test_every_registered_model_has_a_spec():
    assert sorted(ZOO_SMALL) == fraczoo.list_models(), "add the new zoo model to ZOO_SMALL"


def _fixed_input(name: str):
    gen = torch.Generator().manual_seed(123)
    if name == "bayesian_alpha_regressor":
        x = torch.randn(3, 20, 2, generator=gen).cumsum(1)
        return x, torch.tensor([20, 14, 11])
    if name == "neural_fode":
        return torch.randn(3, 2, generator=gen), torch.linspace(0, 1, 7)
    if name == "spectral_fractional_cnn":
        return (torch.randn(3, 1, 8, 8, generator=gen),)
    return (torch.randn(3, 16, generator=gen),)


@torch.no_grad()
def _output(model, name: str):
    model.eval()
    out = model(*_fixed_input(name))
    return out if isinstance(out, tuple) else (out,)


def _perturbed_model(name: str):
    """A model whose every tensor differs from a fresh one: random shifts of all parameters, the learned
    orders (FractionalOrder ``raw``) moved away from their initial value, BatchNorm statistics updated."""
    torch.manual_seed(0)
    model = fraczoo.create_model(name, **ZOO_SMALL[name]["hparams"])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, param in model.named_parameters():
            shift = 0.5 if key.endswith("raw") else 0.05
            param.add_(shift * torch.randn(param.shape, generator=gen))
    model.train()
    with torch.no_grad():
        model(*_fixed_input(name))  # moves BatchNorm running statistics off their defaults
    return model


def _hparams(model) -> dict:
    return _weights.plain(_weights.init_hparams(model.hparams))


def _assert_same_model(a, b, name: str):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and torch.equal(sa[key], sb[key]), key
    assert _hparams(a) == _hparams(b)
    for out_a, out_b in zip(_output(a, name), _output(b, name)):
        assert torch.equal(out_a, out_b)


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    """One save_weights file per zoo model (of its perturbed model)."""
    folder = tmp_path_factory.mktemp("weights")
    files = {}
    for name in ZOO_SMALL:
        model = _perturbed_model(name)
        _weights.save_weights(model, folder / f"{name}.pt", tag="t")
        files[name] = (model, folder / f"{name}.pt")
    return files


@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_save_weights_round_trip_is_exact(name, weights_files):
    model, path = weights_files[name]
    orders = [m.raw.detach().clone() for m in model.modules() if type(m).__name__ == "FractionalOrder"]
    # bayesian_alpha_regressor infers alpha from data and has no order of its own
    assert bool(orders) == (name != "bayesian_alpha_regressor")
    torch.manual_seed(99)  # a different init: only the file can make the two models equal
    loaded = fraczoo.create_model(name, pretrained=str(path))
    _assert_same_model(model, loaded, name)
    loaded_orders = [m.raw for m in loaded.modules() if type(m).__name__ == "FractionalOrder"]
    assert all(torch.equal(a, b) for a, b in zip(orders, loaded_orders))
    assert _hparams(loaded) == {**_hparams(fraczoo.create_model(name)), **_weights.plain(ZOO_SMALL[name]["hparams"])}


@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_lightning_checkpoint_round_trip_is_exact(name, tmp_path):
    spec = ZOO_SMALL[name]
    torch.manual_seed(0)
    model = fraczoo.create_model(name, **spec["hparams"])
    trainer = L.Trainer(default_root_dir=tmp_path, **TRAINER)
    trainer.fit(model, fraczoo.create_datamodule(name, **spec["data"]))
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)

    assert isinstance(torch.load(ckpt, map_location="cpu", weights_only=True), dict)
    cls = type(model)
    torch.manual_seed(99)
    _assert_same_model(model, cls.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True), name)
    torch.manual_seed(98)
    _assert_same_model(model, fraczoo.create_model(name, pretrained=str(ckpt)), name)


@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_weights_files_load_with_weights_only(name, weights_files):
    payload = torch.load(weights_files[name][1], map_location="cpu", weights_only=True)
    assert payload["format"] == _weights.WEIGHTS_FORMAT and payload["model"] == name and payload["tag"] == "t"
    assert isinstance(payload["checksum"], str)


@pytest.mark.parametrize("path", sorted(ROOT.glob("models/*/*.pt")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_weights_load_with_weights_only(path):
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == _weights.WEIGHTS_FORMAT and payload["model"] == path.parent.name
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())


# ---------------------------------------------------------------------------------------------------
# broken files


def _flip(data: bytes, at: int, n: int = 4) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at:at + n]) + data[at + n:]


def _record_offset(path: Path, which) -> tuple[int, int]:
    """(offset, size) of the bytes of a record of the zip that torch writes: the largest tensor's
    (``which="largest_tensor"``) or the pickle's (``which="pickle"``)."""
    with zipfile.ZipFile(path) as archive:
        records = archive.infolist()
    if which == "pickle":
        info = next(i for i in records if i.filename.endswith("/data.pkl"))
    else:
        info = max((i for i in records if "/data/" in i.filename), key=lambda i: i.file_size)
    data = path.read_bytes()
    # the local header's extra field (torch's alignment padding) differs from the central directory's
    start = info.header_offset
    name_len = int.from_bytes(data[start + 26:start + 28], "little")
    extra_len = int.from_bytes(data[start + 28:start + 30], "little")
    return start + 30 + name_len + extra_len, info.compress_size


def _corrupt(kind: str, src: Path, dst: Path, name: str) -> None:
    data = src.read_bytes()
    if kind == "truncated":
        dst.write_bytes(data[: len(data) // 2])
    elif kind == "flipped_tensor_bytes":
        offset, size = _record_offset(src, "largest_tensor")
        dst.write_bytes(_flip(data, offset + size // 2))
    elif kind == "flipped_file_middle":
        dst.write_bytes(_flip(data, len(data) // 2))
    elif kind == "empty":
        dst.write_bytes(b"")
    elif kind == "random_bytes":
        dst.write_bytes(torch.randint(0, 256, (len(data),), generator=torch.Generator().manual_seed(0),
                                      dtype=torch.uint8).numpy().tobytes())
    elif kind == "bare_state_dict":
        torch.save(torch.load(src, weights_only=True)["state_dict"], dst)
    elif kind == "another_model":
        other = next(n for n in sorted(ZOO_SMALL) if n != name)
        _weights.save_weights(fraczoo.create_model(other, **ZOO_SMALL[other]["hparams"]), dst)
    else:
        raise AssertionError(kind)


CORRUPTIONS = {  # kind -> what the message must say (besides the file's path)
    "truncated": "could not read weights file",
    "flipped_tensor_bytes": "checksum mismatch",
    "empty": "is empty",
    "random_bytes": "could not read weights file",
    "bare_state_dict": "not a fraczoo weights file",
    "another_model": "holds weights of model",
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_broken_weights_file_is_a_clear_error(name, kind, weights_files, tmp_path):
    bad = tmp_path / "broken.pt"
    _corrupt(kind, weights_files[name][1], bad, name)
    with pytest.raises(ValueError, match=CORRUPTIONS[kind]) as info:
        fraczoo.create_model(name, pretrained=str(bad))
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("where", ["whole_file", "pickle"])
@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_a_flipped_byte_anywhere_never_loads_a_different_model(name, where, weights_files, tmp_path):
    """One flipped byte at each of 24 places spread over the file (or over its pickled header): either a
    ValueError naming the file, or a model identical to the saved one (the byte was zip alignment padding
    or a pickle memo slot that nothing reads)."""
    model, path = weights_files[name]
    data = path.read_bytes()
    start, size = (0, len(data)) if where == "whole_file" else _record_offset(path, "pickle")
    bad = tmp_path / "broken.pt"
    refused = 0
    for at in torch.linspace(start, start + size - 1, 24).long().tolist():
        bad.write_bytes(_flip(data, at, 1))
        try:
            loaded = fraczoo.create_model(name, pretrained=str(bad))
        except ValueError as err:
            assert str(bad) in str(err)
            refused += 1
        else:
            _assert_same_model(model, loaded, name)
    assert refused >= 6  # the sweep is not vacuous (small files are mostly alignment padding)


def test_sha256_mismatch_and_missing_file(weights_files, tmp_path):
    path = weights_files["neural_fode"][1]
    with pytest.raises(ValueError, match=f"sha256 mismatch for {re.escape(str(path))}: expected 0+, got"):
        _weights.read_weights(path, sha256="0" * 64)
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        fraczoo.create_model("neural_fode", pretrained=str(missing))


def test_lightning_checkpoint_of_another_model_is_refused(tmp_path):
    spec = ZOO_SMALL["spectral_fractional_cnn"]
    model = fraczoo.create_model("spectral_fractional_cnn", **spec["hparams"])
    trainer = L.Trainer(default_root_dir=tmp_path, **{**TRAINER, "limit_train_batches": 1, "limit_val_batches": 0})
    trainer.fit(model, fraczoo.create_datamodule("spectral_fractional_cnn", **spec["data"]))
    ckpt = tmp_path / "cnn.ckpt"
    trainer.save_checkpoint(ckpt)
    with pytest.raises(ValueError, match=f"{re.escape(str(ckpt))} holds hyperparameters .* not a checkpoint"):
        fraczoo.create_model("neural_fode", pretrained=str(ckpt))
    # a checkpoint written by the CLI names its class: that name is checked first
    payload = torch.load(ckpt, weights_only=True)
    payload["hyper_parameters"]["_class_path"] = "fraczoo.models.spectral_fractional_cnn.SpectralFractionalCNN"
    torch.save(payload, ckpt)
    with pytest.raises(ValueError, match="holds weights of model 'spectral_fractional_cnn', not 'neural_fode'"):
        fraczoo.create_model("neural_fode", pretrained=str(ckpt))
    assert fraczoo.create_model("spectral_fractional_cnn", pretrained=str(ckpt)) is not None


def test_checksum_covers_hyperparameters(weights_files, tmp_path):
    """A changed hyperparameter (same tensors) is caught too: it would build a different model."""
    payload = torch.load(weights_files["neural_fode"][1], weights_only=True)
    payload["hparams"]["method"] = "trapezoid"
    bad = tmp_path / "edited.pt"
    torch.save(payload, bad)
    with pytest.raises(ValueError, match="checksum mismatch"):
        fraczoo.create_model("neural_fode", pretrained=str(bad))


# ---------------------------------------------------------------------------------------------------
# the shipped catalogue


@pytest.fixture
def catalogue(tmp_path, monkeypatch):
    """A copy of the catalogue that ``hub`` reads instead of the real one (via $FRACZOO_CATALOGUE)."""
    copy = tmp_path / "catalogue"
    shutil.copytree(_catalogue.catalogue_dir(), copy, ignore=shutil.ignore_patterns("*.md", "*.json"))
    monkeypatch.setenv("FRACZOO_CATALOGUE", str(copy))
    assert _catalogue.catalogue_dir() == copy
    return copy


def _catalogue_file(catalogue: Path, name: str) -> Path:
    entry = _catalogue.pretrained_index(name)
    return catalogue / name / entry["tags"][entry["default"]]["file"]


@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_catalogue_copy_loads_like_the_original(name, catalogue, monkeypatch):
    if not (catalogue / name / "pretrained.yaml").is_file():
        pytest.skip(f"no pretrained weights for {name}")
    copied = fraczoo.load_pretrained(name)
    monkeypatch.delenv("FRACZOO_CATALOGUE")
    for key, value in fraczoo.load_pretrained(name).state_dict().items():
        assert torch.equal(value, copied.state_dict()[key]), key


@pytest.mark.parametrize("kind, error, match", [
    ("flipped_file_middle", ValueError, "sha256 mismatch for"),
    ("truncated", ValueError, "sha256 mismatch for"),
    ("empty", ValueError, "is empty"),
    ("another_model", ValueError, "sha256 mismatch for"),
    ("missing", FileNotFoundError, "weights file not found"),
])
@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_corrupted_catalogue_weights_are_a_clear_error(name, kind, error, match, catalogue, tmp_path):
    if not (catalogue / name / "pretrained.yaml").is_file():
        pytest.skip(f"no pretrained weights for {name}")
    target = _catalogue_file(catalogue, name)
    if kind == "missing":
        target.unlink()
    else:
        original = tmp_path / "original.pt"
        shutil.copy(target, original)
        _corrupt(kind, original, target, name)
    with pytest.raises(error, match=match) as info:
        fraczoo.load_pretrained(name)
    assert str(target) in str(info.value)
