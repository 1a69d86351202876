import os
from pathlib import Path

import pytest
import torch

import fraczoo
from fraczoo.models import _weights


def test_list_models_sorted_and_complete():
    """Every model file in fraczoo/models (not starting with "_") registers exactly its own name."""
    folder = Path(fraczoo.__file__).parent / "models"
    files = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert fraczoo.list_models() == files
    for name in files:
        assert fraczoo.create_model(name).zoo_name == name


def test_create_model_with_hparams():
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8)
    assert model.hparams.channels == [4]
    assert hasattr(model, "backbone")
    out = model(torch.randn(2, 1, 16, 16))
    assert out.shape == (2,)


def test_unknown_model_suggests_close_name():
    with pytest.raises(KeyError, match="Did you mean 'spectral_fractional_cnn'"):
        fraczoo.create_model("spectral_fractonal_cnn")
    with pytest.raises(ValueError, match="unknown model"):
        fraczoo.create_model("nope")


def test_create_model_rejects_non_string_name():
    with pytest.raises(TypeError, match="model name"):
        fraczoo.create_model(3)


def test_create_datamodule():
    dm = fraczoo.create_datamodule("spectral_fractional_cnn", train_size=8, val_size=4, test_size=4, size=8)
    dm.setup("fit")
    x, h = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (1, 8, 8) and h.shape[0] == x.shape[0]


def test_save_and_load_weights_roundtrip(tmp_path):
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8, alpha_init=0.7)
    path = tmp_path / "w.pt"
    sha = _weights.save_weights(model, path)
    assert sha == _weights.sha256_of(path)
    payload = torch.load(path, weights_only=True)
    assert payload["model"] == "spectral_fractional_cnn"
    loaded = fraczoo.create_model("spectral_fractional_cnn", pretrained=str(path))
    assert loaded.hparams.channels == [4] and loaded.hparams.alpha_init == 0.7
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_weights_of_wrong_shape_give_clear_error(tmp_path):
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8)
    path = tmp_path / "w.pt"
    _weights.save_weights(model, path)
    with pytest.raises(ValueError, match="do not fit"):
        fraczoo.create_model("spectral_fractional_cnn", pretrained=str(path), channels=[8])


def test_truncated_and_tampered_files(tmp_path):
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8)
    path = tmp_path / "w.pt"
    sha = _weights.save_weights(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="could not read weights"):
        _weights.read_weights(path)
    with pytest.raises(ValueError, match="sha256 mismatch"):
        _weights.read_weights(path, sha256=sha)
    junk = tmp_path / "junk.pt"
    torch.save({"a": 1}, junk)
    with pytest.raises(ValueError, match="not a fraczoo weights file"):
        _weights.read_weights(junk)


def test_lightning_checkpoint_loads(tmp_path):
    import lightning as L

    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8)
    dm = fraczoo.create_datamodule("spectral_fractional_cnn", train_size=16, val_size=8, test_size=8, size=8,
                                   batch_size=8)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path, limit_val_batches=0)
    trainer.fit(model, dm)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = fraczoo.create_model("spectral_fractional_cnn", pretrained=str(ckpt))
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_pretrained_from_any_working_directory(tmp_path, monkeypatch):
    if not fraczoo.list_pretrained():
        pytest.skip("no pretrained weights in the catalogue")
    monkeypatch.chdir(tmp_path)
    for name in fraczoo.list_pretrained():
        model = fraczoo.load_pretrained(name)
        assert model.zoo_name == name.split(".")[0]
    base = fraczoo.list_pretrained()[0].split(".")[0]
    assert fraczoo.load_pretrained(base) is not None  # bare name = default tag


def test_unknown_tag():
    with pytest.raises(KeyError, match="tag"):
        fraczoo.load_pretrained("spectral_fractional_cnn.no_such_tag")


def test_backbone_init_for_finetuning(tmp_path):
    src = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8)
    path = tmp_path / "w.pt"
    _weights.save_weights(src, path)
    dst = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8, task="classification",
                               num_outputs=3, init_weights=str(path))
    for key, value in src.backbone.state_dict().items():
        assert torch.equal(value, dst.backbone.state_dict()[key])
    with pytest.raises(ValueError, match="backbone"):
        fraczoo.create_model("spectral_fractional_cnn", channels=[8], init_weights=str(path))


def test_save_pretrained_round_trip_by_path(tmp_path):
    model = fraczoo.create_model("neural_fode", hidden=8, alpha_init=0.3)
    path = tmp_path / "nf.pt"
    sha = fraczoo.save_pretrained(model, path, metrics={"val_mse": 0.25})
    assert sha == _weights.sha256_of(path)
    assert torch.load(path, weights_only=True)["metrics"] == {"val_mse": 0.25}
    for source in (path, str(path)):
        loaded = fraczoo.load_pretrained(source, sha256=sha)
        assert type(loaded) is type(model) and loaded.hparams.hidden == 8
        for key, value in model.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key
    with pytest.raises(ValueError, match="sha256 mismatch"):
        fraczoo.load_pretrained(path, sha256="0" * 64)


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, stop function)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            httpd.shutdown()
            httpd.server_close()
            stopped.append(True)

    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", stop
    stop()


def test_load_pretrained_from_url_downloads_once_then_serves_the_cache(server, tmp_path, monkeypatch):
    root, base, stop = server
    monkeypatch.setenv("FRACZOO_HOME", str(tmp_path / "home"))
    model = fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8, alpha_init=0.7)
    sha = fraczoo.save_pretrained(model, root / "cnn.pt")
    first = fraczoo.load_pretrained(f"{base}/cnn.pt", sha256=sha)
    cached = list((tmp_path / "home" / "weights").iterdir())
    assert len(cached) == 1 and _weights.sha256_of(cached[0]) == sha
    stop()  # no network from here on
    second = fraczoo.load_pretrained(f"{base}/cnn.pt", sha256=sha)
    for key, value in model.state_dict().items():
        assert torch.equal(value, first.state_dict()[key]) and torch.equal(value, second.state_dict()[key]), key


def test_url_with_a_wrong_hash_or_no_weights_caches_nothing(server, tmp_path, monkeypatch):
    root, base, _ = server
    monkeypatch.setenv("FRACZOO_HOME", str(tmp_path / "home"))
    fraczoo.save_pretrained(fraczoo.create_model("spectral_fractional_cnn", channels=[4], hidden=8), root / "w.pt")
    (root / "junk.pt").write_bytes(b"not a weights file")
    with pytest.raises(ValueError, match="sha256 mismatch .* was not kept"):
        fraczoo.load_pretrained(f"{base}/w.pt", sha256="0" * 64)
    with pytest.raises(ValueError, match="could not read weights file"):
        fraczoo.load_pretrained(f"{base}/junk.pt")
    with pytest.raises(OSError, match="could not download weights from .*missing.pt"):
        fraczoo.load_pretrained(f"{base}/missing.pt")
    cache = tmp_path / "home" / "weights"
    assert not cache.exists() or not any(cache.iterdir())


def test_load_pretrained_rejects_bad_sources():
    with pytest.raises(TypeError, match="source must be a pretrained name, a path or a URL"):
        fraczoo.load_pretrained(3)
    with pytest.raises(ValueError, match="sha256 is for a file or URL"):
        fraczoo.load_pretrained("spectral_fractional_cnn.fields", sha256="0" * 64)
