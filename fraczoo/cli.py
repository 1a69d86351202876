"""The ``fraczoo`` command line: LightningCLI over the zoo (fit, validate, test, predict).

    fraczoo fit --config spectral_fractional_cnn                  # a zoo model's shipped config, by name
    fraczoo fit --config spectral_fractional_cnn:finetune         # its config.yaml, then its finetune.yaml
    fraczoo fit --config models/spectral_fractional_cnn/config.yaml --trainer.max_epochs 10
    fraczoo validate --ckpt_path runs/.../last.ckpt               # a checkpoint names its model and data
    fraczoo validate --config spectral_fractional_cnn --ckpt_path spectral_fractional_cnn.fields
    fraczoo config spectral_fractional_cnn [--finetune]           # print a shipped config to edit and save
    fraczoo list                                                  # zoo models and pretrained weights

A ``--config`` that is not a file here is looked up in the catalogue: a zoo model name (``NAME`` or
``NAME:finetune``), or a catalogue path such as ``callbacks/wandb.yaml`` or ``datamodules/digits.yaml``, so
the shipped configs work from any folder with an installed wheel.

Weights & Biases runs offline unless the user is logged in (WANDB_API_KEY or a netrc entry), so the
command never prompts and never needs an account; ``wandb sync <run dir>`` uploads an offline run later.
"""
from __future__ import annotations

import json
import netrc
import os
import sys
from pathlib import Path
from typing import Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningCLI

from fraczoo.hub import list_models, list_pretrained, load_backbone
from fraczoo.models._catalogue import catalogue_dir, catalogue_root, is_file_source, resolve_weights
from fraczoo.models._registry import class_path_of, model_class
from fraczoo.models._weights import init_hparams, load_state_into


def _wandb_logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class RunSummary(L.Callback):
    """Tell the user where the run went: best/last checkpoint and each logger's directory."""

    def on_fit_end(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        lines = []
        ckpt = trainer.checkpoint_callback
        if ckpt is not None:
            if getattr(ckpt, "best_model_path", ""):
                lines.append(f"best checkpoint: {os.path.abspath(ckpt.best_model_path)}")
            if getattr(ckpt, "last_model_path", ""):
                lines.append(f"last checkpoint: {os.path.abspath(ckpt.last_model_path)}")
        for logger in trainer.loggers:
            name = type(logger).__name__
            run = getattr(logger, "experiment", None) if name == "WandbLogger" else None
            if run is not None and getattr(run, "dir", None):
                mode = os.environ.get("WANDB_MODE", "online")
                lines.append(f"W&B run ({mode}): {os.path.dirname(os.path.abspath(run.dir))}")
                if mode == "offline":
                    lines.append(f"  upload later with: wandb sync {os.path.dirname(os.path.abspath(run.dir))}")
            elif getattr(logger, "log_dir", None):
                lines.append(f"{name} logs: {os.path.abspath(logger.log_dir)}")
        print("\n".join(["", "fraczoo run summary", *("  " + line for line in lines)]), flush=True)


def _list() -> None:
    print("models:")
    for name in list_models():
        print(f"  {name}")
    print("pretrained:")
    for name in list_pretrained():
        print(f"  {name}")


def config_paths(value: str) -> list[str]:
    """The files a ``--config`` value stands for: itself when it exists; a zoo model's shipped config
    (``NAME``) or its config and fine-tuning overrides (``NAME:finetune``); a path inside the catalogue root
    (``callbacks/wandb.yaml``). Anything else is passed on for LightningCLI to report."""
    if Path(value).exists():
        return [value]
    name, _, variant = value.partition(":")
    if name in list_models():
        if variant not in ("", "finetune"):
            raise SystemExit(f"fraczoo: --config {value}: use {name} or {name}:finetune")
        files = [catalogue_dir() / name / "config.yaml"]
        files += [catalogue_dir() / name / "finetune.yaml"] if variant else []
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise SystemExit(f"fraczoo: --config {value}: the catalogue has no {', '.join(missing)}")
        return [str(f) for f in files]
    shipped = catalogue_root() / value
    return [str(shipped)] if shipped.is_file() else [value]


def resolve_configs(argv: list[str]) -> list[str]:
    """``argv`` with every ``--config VALUE`` / ``--config=VALUE`` replaced by ``config_paths(VALUE)``."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config" and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        elif arg.startswith("--config="):
            value, i = arg.split("=", 1)[1], i + 1
        else:
            out.append(arg)
            i += 1
            continue
        out += [a for path in config_paths(value) for a in ("--config", path)]
    return out


def checkpoint_config(ckpt_path: str) -> dict | None:
    """The model and data sections that rebuild the run a Lightning checkpoint came from (LightningCLI
    stores each class path and its arguments in the checkpoint's hyperparameters), or None."""
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception:  # not readable here: LightningCLI reports it when it loads the file
        return None
    config = {}
    for section, key in (("model", "hyper_parameters"), ("data", "datamodule_hyper_parameters")):
        hparams = ckpt.get(key) or {}
        if "_class_path" in hparams:
            config[section] = {"class_path": hparams["_class_path"],
                               "init_args": {k: v for k, v in hparams.items() if not k.startswith("_")}}
    return config or None


def zoo_weights(spec: str) -> tuple[dict, str] | None:
    """(payload, where) when ``spec`` names fraczoo weights rather than a Lightning checkpoint: a pretrained
    name (``name`` / ``name.tag``) or a file written by ``save_pretrained``; None otherwise (Lightning's own
    values such as ``last`` and ``best``, checkpoints, missing or unreadable files: Lightning reports those)."""
    if Path(spec).is_file():
        try:
            payload, where = resolve_weights(spec)
        except (OSError, ValueError):
            return None
        return None if payload["format"] == "lightning-checkpoint" else (payload, where)
    if is_file_source(spec) or spec.partition(".")[0] not in list_models():
        return None
    try:
        return resolve_weights(spec)
    except (KeyError, ValueError) as err:  # a misspelt tag: the error names the valid ones
        raise SystemExit(f"fraczoo: --ckpt_path {spec}: {err}") from None


def _ckpt_path(argv: list[str]) -> str | None:
    paths = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--ckpt_path"]
    paths += [a.split("=", 1)[1] for a in argv if a.startswith("--ckpt_path=")]
    return paths[-1] if paths else None


def with_checkpoint_config(argv: list[str]) -> list[str]:
    """For validate/test/predict with ``--ckpt_path``: the checkpoint's own model and data come first, so
    ``fraczoo validate --ckpt_path last.ckpt`` runs as is (later configs and arguments still override).

    ``--ckpt_path`` may also name fraczoo weights (a pretrained name or a weights file): they hold the
    model but not the data, so the model section they imply goes after the last ``--config`` (the weights
    fix the architecture) and the data come from the configs; ``ZooCLI`` loads the weights."""
    path = _ckpt_path(argv)
    if argv[:1] not in (["validate"], ["test"], ["predict"]) or path is None:
        return argv
    weights = zoo_weights(path)
    if weights is None:
        config = checkpoint_config(path) if Path(path).is_file() else None
        return [argv[0], "--config", json.dumps(config), *argv[1:]] if config else argv
    payload, _ = weights
    model = {"class_path": class_path_of(model_class(payload["model"])), "init_args": init_hparams(payload["hparams"])}
    last = max([i + 1 for i, a in enumerate(argv) if a == "--config"]
               + [i for i, a in enumerate(argv) if a.startswith("--config=")], default=0)
    return [*argv[:last + 1], "--model", json.dumps(model), *argv[last + 1:]]


def _print_config(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("-")]
    if len(names) != 1 or names[0] not in list_models() or set(argv) - {names[0], "--finetune"}:
        raise SystemExit(f"usage: fraczoo config NAME [--finetune]; NAME one of: {', '.join(list_models())}")
    file = catalogue_dir() / names[0] / ("finetune.yaml" if "--finetune" in argv else "config.yaml")
    if not file.is_file():
        raise SystemExit(f"fraczoo config: the catalogue has no {file}")
    print(file.read_text(), end="")


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["list"]:
        _list()
        return
    if argv[:1] == ["config"]:
        _print_config(argv[1:])
        return
    argv = with_checkpoint_config(resolve_configs(argv))
    if not _wandb_logged_in():
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    from fraczoo.callbacks import NonFiniteGuard, RNGStateCheckpoint

    if args is None:
        # LightningCLI warns on every run when handed args while sys.argv holds a command line: hand it
        # the rewritten command line as sys.argv instead
        sys.argv[1:], argv = argv, None
    make_cli(argv, trainer_defaults={"callbacks": [RunSummary(), NonFiniteGuard(), RNGStateCheckpoint()]})


class ZooCLI(LightningCLI):
    """LightningCLI plus ``--init_weights``: a pretrained name or weights file whose backbone initialises
    the model before the run (fine-tuning; ignored when ``--ckpt_path`` resumes a run). It is an argument of
    the run, not of the model, so a fine-tuned checkpoint rebuilds without the catalogue. To validate, test
    or predict, ``--ckpt_path`` may name fraczoo weights too (see ``with_checkpoint_config``)."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--init_weights", type=Optional[str], default=None,
                            help="pretrained name (model or model.tag) or weights/checkpoint file whose backbone "
                                 "initialises the model (fine-tuning; the head stays fresh)")

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except ValueError as err:  # jsonargparse buries the cause under every logger type it tried
            import lightning.pytorch.loggers.wandb as wandb_logger

            if "WandbLogger" in str(err) and not wandb_logger._WANDB_AVAILABLE:
                raise SystemExit("fraczoo: this config logs to Weights & Biases, and wandb is not installed: "
                                 "pip install 'fraczoo[wandb]', or run without a logger (--trainer.logger=false)"
                                 ) from None
            raise
        fitting = self.subcommand in (None, "fit")  # None: make_cli(run=False), which builds for fitting
        if fitting and not self.trainer.loggers:
            self._drop_lr_monitors()
        self._load_weights(fitting)

    def _drop_lr_monitors(self) -> None:
        # with --trainer.logger=false there is nowhere to log the learning rate to, and Lightning would stop
        # the run at its start for the missing logger
        monitors = [cb for cb in self.trainer.callbacks if isinstance(cb, LearningRateMonitor)]
        for cb in monitors:
            self.trainer.callbacks.remove(cb)
        if monitors:
            print("fraczoo: no logger, so LearningRateMonitor is left out", file=sys.stderr)

    def _load_weights(self, fitting: bool) -> None:
        """fit: ``--init_weights`` sets the backbone unless ``--ckpt_path`` resumes. validate/test/predict:
        ``--ckpt_path`` naming fraczoo weights loads the whole model (Lightning reads only its own files)."""
        source, ckpt_path = self._get(self.config, "init_weights"), self._get(self.config, "ckpt_path")
        weights = zoo_weights(ckpt_path) if ckpt_path else None
        if fitting:
            if weights is not None:
                raise SystemExit(f"fraczoo fit: --ckpt_path resumes a run from a Lightning checkpoint; "
                                 f"{ckpt_path} is fraczoo weights: start from them with --init_weights "
                                 f"{ckpt_path} (the backbone; the head stays fresh)")
            if source and not ckpt_path:
                load_backbone(self.model, source)
        elif weights is not None:
            load_state_into(self.model, *weights)
            self.config_init[self.subcommand]["ckpt_path"] = None
        elif source and not ckpt_path:  # a fresh head would be scored as if it were trained
            raise SystemExit(f"fraczoo {self.subcommand}: --init_weights loads only a backbone, for fitting; "
                             f"to {self.subcommand} pretrained weights pass them as --ckpt_path {source}")


def make_cli(args: list[str] | None, *, run: bool = True, **kwargs) -> LightningCLI:
    """The LightningCLI behind ``fraczoo``: any zoo model / data module by class path, optimizers from the
    model. ``args`` None parses ``sys.argv``; ``run=False`` only parses and instantiates (scripts, tests)."""
    import fraczoo.datamodules  # noqa: F401  (subclasses must be importable for class_path shorthands)

    return ZooCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                  save_config_kwargs={"overwrite": True}, args=args, run=run, auto_configure_optimizers=False,
                  **kwargs)


if __name__ == "__main__":
    main()
