"""The data configs in datamodules/: one per shipped data set, every argument explicit (so nothing is carried
over from the model config they follow), and each composes with a model config into a run that trains."""
from __future__ import annotations

import inspect
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

import fraczoo.datamodules as datamodules
from fraczoo.cli import make_cli

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {p.stem: yaml.safe_load(p.read_text())["data"] for p in sorted((ROOT / "datamodules").glob("*.yaml"))}
# data config -> the model config it is shown with, and small overrides for a quick run
PAIRS = {
    "anomalous_diffusion": ("bayesian_alpha_regressor", dict(max_length=40, train_size=16, val_size=8, batch_size=8)),
    "digits": ("spectral_fractional_cnn:finetune", dict(train_size=16, batch_size=8)),
    "fractional_dynamics": ("neural_fode", dict(n_steps=8, train_size=8, val_size=4, test_size=4, batch_size=4)),
    "fractional_fields": ("spectral_fractional_cnn", dict(size=8, train_size=8, val_size=4, test_size=4, batch_size=4)),
    "long_memory": ("stochastic_memory_seq", dict(length=33, train_size=8, val_size=4, test_size=4, batch_size=4)),
}


def _classes() -> dict[str, type]:
    return {f"{cls.__module__}.{cls.__qualname__}": cls for cls in map(lambda n: getattr(datamodules, n),
                                                                       datamodules.__all__)
            if inspect.isclass(cls) and issubclass(cls, L.LightningDataModule)}


def test_one_config_per_shipped_data_set():
    assert sorted(c["class_path"] for c in CONFIGS.values()) == sorted(_classes())
    assert sorted(PAIRS) == sorted(CONFIGS)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_argument_is_explicit(name):
    cls = _classes()[CONFIGS[name]["class_path"]]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert sorted(CONFIGS[name]["init_args"]) == sorted(params)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_composes_with_a_model_config(name, tmp_path, one_thread):
    if name == "digits":
        pytest.importorskip("sklearn")
    model_config, small = PAIRS[name]
    from fraczoo.cli import resolve_configs

    args = resolve_configs(["--config", model_config, "--config", f"datamodules/{name}.yaml"])
    cli = make_cli([*args, "--trainer.logger=false", "--trainer.callbacks=[]", f"--trainer.default_root_dir={tmp_path}",
                    *(f"--data.init_args.{k}={v}" for k, v in small.items())], run=False)
    expected = {**CONFIGS[name]["init_args"], **small}
    assert type(cli.datamodule).__name__ == CONFIGS[name]["class_path"].rsplit(".", 1)[1]
    for key, value in expected.items():
        got = cli.datamodule.hparams[key]
        assert (list(got) if isinstance(got, tuple) else got) == value, key
    cli.datamodule.setup("fit")
    batch = next(iter(cli.datamodule.train_dataloader()))
    loss = cli.model.training_step(batch, 0)
    assert torch.isfinite(loss)
