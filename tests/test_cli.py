import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "models" / "spectral_fractional_cnn" / "config.yaml"


def run_cli(*args, cwd, **extra_env):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT), **extra_env}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "fraczoo", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_list(tmp_path):
    out = run_cli("list", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "spectral_fractional_cnn" in out.stdout


def test_fit_logs_wandb_offline_and_reports_paths(tmp_path):
    out = run_cli("fit", "--config", str(CONFIG), "--trainer.max_epochs=1", "--data.train_size=64",
                  "--data.val_size=32", "--data.test_size=32", "--data.size=16", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "fraczoo run summary" in out.stdout
    ckpt = re.search(r"last checkpoint: (\S+)", out.stdout).group(1)
    assert Path(ckpt).is_file()
    run_dir = re.search(r"W&B run \(offline\): (\S+)", out.stdout).group(1)
    assert Path(run_dir).is_dir() and Path(run_dir).name.startswith("offline-run-")
    assert any(Path(run_dir).glob("*.wandb")), "the offline run wrote no .wandb file"

    val = run_cli("validate", "--config", str(CONFIG), "--data.val_size=32", "--data.size=16",
                  "--trainer.logger=false", "--ckpt_path", ckpt, cwd=tmp_path)
    assert val.returncode == 0, val.stderr[-3000:]
    assert "val_loss" in val.stdout


def test_fit_without_wandb_installed_says_what_to_install(tmp_path):
    # wandb made unavailable the way Lightning's WandbLogger checks for it: a requirement that is not met
    code = ("import sys, lightning.pytorch.loggers.wandb as w; from lightning_utilities.core.imports import "
            "RequirementCache; w._WANDB_AVAILABLE = RequirementCache('wandb>=999'); from fraczoo.cli import main; "
            "main(sys.argv[1:])")
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, "fit", "--config", str(CONFIG), "--trainer.max_epochs=1",
                          "--data.train_size=32", "--data.val_size=16", "--data.size=16"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert "wandb is not installed: pip install 'fraczoo[wandb]'" in out.stderr
    assert "--trainer.logger=false" in out.stderr and "Traceback" not in out.stderr


def test_bad_config_key_is_reported(tmp_path):
    out = run_cli("fit", "--config", str(CONFIG), "--model.init_args.no_such_arg=1", cwd=tmp_path)
    assert out.returncode != 0
    assert "no_such_arg" in out.stderr


def test_wandb_fragment_tracks_monitors_offline(tmp_path):
    """callbacks/wandb.yaml on top of a model config: an offline run with both monitors' keys in it."""
    fragment = ROOT / "callbacks" / "wandb.yaml"
    out = run_cli("fit", "--config", str(CONFIG), "--config", str(fragment), "--trainer.max_epochs=1",
                  "--data.train_size=64", "--data.val_size=32", "--data.test_size=32", "--data.size=16",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    run_dir = Path(re.search(r"W&B run \(offline\): (\S+)", out.stdout).group(1))
    records = next(run_dir.glob("*.wandb")).read_bytes()
    # the run file is a log of protobuf records; metric and config keys are stored as plain UTF-8 there
    for key in (b"val_loss", b"grad_var/all", b"grad_var/noise_scale", b"alpha/backbone.blocks.0.alpha/mean",
                b"alpha/backbone.blocks.0.alpha/std", b"alpha_init"):
        assert key in records, key


def test_finetune_config_composes_and_checkpoint_needs_no_catalogue(tmp_path):
    """config.yaml + finetune.yaml: the backbone starts from the pretrained weights (``init_weights``, applied
    by the CLI, not by the model), and the fine-tuned checkpoint loads with ``load_from_checkpoint`` and
    ``fraczoo validate --ckpt_path`` in a folder without the catalogue: its hyperparameters do not name the
    catalogue weights."""
    pytest.importorskip("sklearn")
    import torch

    folder = ROOT / "models" / "spectral_fractional_cnn"
    out = run_cli("fit", "--config", str(folder / "config.yaml"), "--config", str(folder / "finetune.yaml"),
                  "--trainer.max_steps=1", "--trainer.limit_val_batches=1", "--trainer.logger=false",
                  f"--trainer.default_root_dir={tmp_path}", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ckpt = Path(re.search(r"last checkpoint: (\S+)", out.stdout).group(1))
    saved = torch.load(ckpt, weights_only=False)
    assert "init_weights" not in saved["hyper_parameters"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    empty = tmp_path / "no_catalogue"
    empty.mkdir()
    code = (f"import fraczoo; from fraczoo.models import SpectralFractionalCNN; "
            f"m = SpectralFractionalCNN.load_from_checkpoint({str(ckpt)!r}); "
            f"assert fraczoo.list_pretrained() == []; print(m.hparams.task, m.hparams.num_outputs)")
    env = {**os.environ, "FRACZOO_CATALOGUE": str(empty), "PYTHONPATH": str(ROOT)}
    loaded = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["classification", "10"]
    # the checkpoint alone names its model and data: ``fraczoo validate --ckpt_path`` needs no config
    val = run_cli("validate", "--ckpt_path", str(ckpt), "--trainer.limit_val_batches=1", "--trainer.logger=false",
                  cwd=elsewhere, FRACZOO_CATALOGUE=str(empty))
    assert val.returncode == 0, val.stderr[-3000:]
    assert "val_acc" in val.stdout and "val_loss" in val.stdout


def test_init_weights_sets_the_backbone_unless_resuming(tmp_path):
    import torch

    import fraczoo
    from fraczoo.cli import make_cli

    # the shipped config's architecture, other starting orders
    source = fraczoo.create_model("spectral_fractional_cnn", block="hybrid", channels=[8, 16], kernel_size=3,
                                  spectrum_bins=16, alpha_init=0.7)
    weights = tmp_path / "w.pt"
    fraczoo.save_pretrained(source, weights)
    args = ["--config", str(CONFIG), "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}"]
    cli = make_cli([*args, f"--init_weights={weights}"], run=False)
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(cli.model.backbone.state_dict()[key], value), key
    fresh = make_cli(args, run=False).model
    key = "blocks.0.alpha.raw"
    assert not torch.equal(fresh.backbone.state_dict()[key], source.backbone.state_dict()[key])
    with pytest.raises(ValueError, match="backbone"):
        make_cli([*args, "--model.init_args.channels=[8]", f"--init_weights={weights}"], run=False)


def test_configs_by_name_from_any_folder(tmp_path):
    shown = run_cli("config", "spectral_fractional_cnn", "--finetune", cwd=tmp_path)
    assert shown.returncode == 0 and "init_weights: spectral_fractional_cnn.fields" in shown.stdout
    bad = run_cli("config", "no_such_model", cwd=tmp_path)
    assert bad.returncode != 0 and "NAME one of: bayesian_alpha_regressor" in bad.stderr
    from fraczoo.cli import resolve_configs

    folder = ROOT / "models" / "neural_fode"
    assert resolve_configs(["fit", "--config", "neural_fode:finetune", "--trainer.max_epochs=1"]) == [
        "fit", "--config", str(folder / "config.yaml"), "--config", str(folder / "finetune.yaml"),
        "--trainer.max_epochs=1"]
    assert resolve_configs(["--config=callbacks/wandb.yaml"])[1].endswith("callbacks/wandb.yaml")
    assert resolve_configs(["--config", "no/such.yaml"]) == ["--config", "no/such.yaml"]  # LightningCLI reports it
    with pytest.raises(SystemExit, match="use neural_fode or neural_fode:finetune"):
        resolve_configs(["--config", "neural_fode:tune"])


def test_validate_pretrained_weights_by_name_or_file(tmp_path):
    """``--ckpt_path`` may name fraczoo weights (a pretrained name or a weights file): the whole model is
    loaded, head included, and scores exactly as ``Trainer.validate`` of ``load_pretrained`` does; the data
    come from the config."""
    import lightning as L
    import torch

    import fraczoo
    from fraczoo.cli import make_cli, with_checkpoint_config

    args = ["--config", str(CONFIG), "--data.val_size=32", "--trainer.logger=false", "--trainer.callbacks=[]",
            "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}"]
    pretrained = fraczoo.load_pretrained("spectral_fractional_cnn.fields")
    datamodule = make_cli(args, run=False).datamodule
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                        default_root_dir=tmp_path)
    expected = trainer.validate(pretrained, datamodule)[0]["val_loss"]
    weights = tmp_path / "fields.pt"
    fraczoo.save_pretrained(pretrained, weights)
    # --ckpt_path wins over an --init_weights a fine-tuning config sets, as it does for fit
    for source, extra in (("spectral_fractional_cnn.fields", []), (str(weights), []),
                          (str(weights), ["--init_weights=spectral_fractional_cnn.digits"])):
        cli = make_cli(with_checkpoint_config(["validate", *args, *extra, "--ckpt_path", source]))
        for key, value in pretrained.state_dict().items():
            assert torch.equal(cli.model.state_dict()[key], value), (source, key)
        assert float(cli.trainer.callback_metrics["val_loss"]) == pytest.approx(expected, rel=1e-6), source


def test_ckpt_path_and_init_weights_misuse_is_an_error(tmp_path):
    from fraczoo.cli import make_cli, with_checkpoint_config

    args = ["--config", str(CONFIG), "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}"]
    # a backbone with a fresh head would be scored as if it were the pretrained model
    with pytest.raises(SystemExit, match="--init_weights loads only a backbone.*--ckpt_path spectral_fr"):
        make_cli(with_checkpoint_config(["validate", *args, "--init_weights=spectral_fractional_cnn.fields"]))
    with pytest.raises(SystemExit, match="resumes a run from a Lightning checkpoint.*--init_weights"):
        make_cli(["fit", *args, "--ckpt_path", "spectral_fractional_cnn.fields"])
    with pytest.raises(SystemExit, match="--ckpt_path spectral_fractional_cnn.nosuch: .*nosuch"):
        with_checkpoint_config(["validate", "--ckpt_path", "spectral_fractional_cnn.nosuch"])
    for lightning_value in ("last", "best"):  # Lightning's own values pass through
        assert with_checkpoint_config(["test", "--ckpt_path", lightning_value]) == [
            "test", "--ckpt_path", lightning_value]
    # a missing file is Lightning's to report, even when its name starts like a pretrained one
    assert with_checkpoint_config(["validate", "--ckpt_path", "spectral_fractional_cnn.ckpt"]) == [
        "validate", "--ckpt_path", "spectral_fractional_cnn.ckpt"]


def test_command_line_run_prints_no_lightning_args_warning(tmp_path):
    out = run_cli("validate", "--config", str(CONFIG), "--ckpt_path", "spectral_fractional_cnn.fields",
                  "--data.val_size=32", "--trainer.logger=false", "--trainer.callbacks=[]", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "val_loss" in out.stdout
    assert "args parameter" not in out.stderr


def test_shipped_config_fits_without_a_logger(tmp_path):
    """The README's way to run without W&B (``--trainer.logger=false``) works with every shipped config,
    the regressor's LearningRateMonitor included: with no logger it is left out instead of stopping the run."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    from fraczoo.cli import make_cli

    config = ROOT / "models" / "bayesian_alpha_regressor" / "config.yaml"
    cli = make_cli(["fit", "--config", str(config), "--trainer.logger=false", "--trainer.max_steps=1",
                    "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
                    "--data.init_args.train_size=32", "--data.init_args.val_size=32", "--data.init_args.batch_size=16",
                    f"--trainer.default_root_dir={tmp_path}"])
    assert cli.trainer.global_step == 1
    assert not any(isinstance(cb, LearningRateMonitor) for cb in cli.trainer.callbacks)
    logged = make_cli(["--config", str(config), f"--trainer.default_root_dir={tmp_path}"], run=False)
    assert any(isinstance(cb, LearningRateMonitor) for cb in logged.trainer.callbacks)
