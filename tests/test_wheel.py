"""What users install: the built wheel, alone, in a fresh folder (no clone, no catalogue beside it).

The wheel is built from this checkout (``pip wheel``; CI reuses ``dist/*.whl`` when .ci/run built one),
installed with ``--target`` into an empty folder and put first on PYTHONPATH, so the checkout's own package
is not importable; the test checks that the code and the catalogue both come from the installed copy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ZOO_SMALL

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

SMOKE = r'''
import functools, http.server, json, os, sys, tempfile, threading
from pathlib import Path
import lightning as L, torch
import fraczoo

site, small = sys.argv[1], json.loads(sys.argv[2])
assert fraczoo.__file__.startswith(site), fraczoo.__file__
from fraczoo.models._catalogue import catalogue_dir
assert str(catalogue_dir()).startswith(site), catalogue_dir()

names = fraczoo.list_pretrained()
assert len(names) >= 5, names
for name in names:  # every pretrained name loads
    assert fraczoo.load_pretrained(name).zoo_name == name.split(".")[0]

model = fraczoo.load_pretrained("spectral_fractional_cnn.fields")
sha = fraczoo.save_pretrained(model, "by_path.pt", metrics={"note": 1.0})
same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
assert same(model, fraczoo.load_pretrained("by_path.pt", sha256=sha))

os.makedirs("www")
os.replace("by_path.pt", "www/w.pt")
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="www")
handler.log_message = lambda *a, **k: None
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{httpd.server_address[1]}/w.pt"
assert same(model, fraczoo.load_pretrained(url, sha256=sha))
httpd.shutdown(); httpd.server_close()
assert same(model, fraczoo.load_pretrained(url, sha256=sha))  # from the cache, server stopped

kw = dict(max_epochs=1, limit_train_batches=2, limit_val_batches=1, accelerator="cpu", logger=False,
          enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
for name in fraczoo.list_models():  # validate, then fit, in one process
    torch.manual_seed(0)
    m = fraczoo.create_model(name, **small[name]["hparams"])
    data = fraczoo.create_datamodule(name, **small[name]["data"])
    L.Trainer(**kw).validate(m, data, verbose=False)
    L.Trainer(**kw).fit(m, data)
print("SMOKE OK")
'''


def _wheel(tmp_path: Path) -> Path:
    built = sorted((ROOT / "dist").glob("fraczoo-*.whl")) if os.environ.get("CI") else []
    if built:
        return built[-1]
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return next(tmp_path.glob("fraczoo-*.whl"))


def test_installed_wheel_works_from_a_fresh_folder(tmp_path):
    wheel = _wheel(tmp_path / "dist")
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "WANDB_MODE": "offline", "FRACZOO_HOME": str(tmp_path / "home"),
           "OMP_NUM_THREADS": "1"}
    env.pop("FRACZOO_CATALOGUE", None)
    env.pop("WANDB_API_KEY", None)

    def run(*args):
        result = subprocess.run([sys.executable, *args], cwd=fresh, env=env, capture_output=True, text=True,
                                timeout=900, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    assert "SMOKE OK" in run("-c", SMOKE, str(site), json.dumps(ZOO_SMALL))
    assert "class_path: fraczoo.models.neural_fode.NeuralFODE" in run("-m", "fraczoo", "config", "neural_fode")
    fit = run("-m", "fraczoo", "fit", "--config", "spectral_fractional_cnn", "--trainer.max_epochs=1",
              "--trainer.logger=false", "--data.init_args.train_size=32", "--data.init_args.val_size=16",
              "--data.init_args.size=16")
    assert "last checkpoint:" in fit
    assert not (fresh / "models").exists()
