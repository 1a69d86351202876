"""The ``fraczoo`` command line: LightningCLI over the zoo (fit, validate, test, predict).

    fraczoo fit --config models/spectral_fractional_cnn/config.yaml
    fraczoo fit --config models/spectral_fractional_cnn/config.yaml --trainer.max_epochs 10
    fraczoo list                      # zoo models and pretrained weights

Weights & Biases runs offline unless the user is logged in (WANDB_API_KEY or a netrc entry), so the
command never prompts and never needs an account; ``wandb sync <run dir>`` uploads an offline run later.
"""
from __future__ import annotations

import netrc
import os
import sys
from typing import Optional

import lightning as L
from lightning.pytorch.cli import LightningCLI

from fraczoo.hub import list_models, list_pretrained, load_backbone


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


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["list"]:
        _list()
        return
    if not _wandb_logged_in():
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    from fraczoo.callbacks import NonFiniteGuard, RNGStateCheckpoint

    make_cli(argv, trainer_defaults={"callbacks": [RunSummary(), NonFiniteGuard(), RNGStateCheckpoint()]})


class ZooCLI(LightningCLI):
    """LightningCLI plus ``--init_weights``: a pretrained name or weights file whose backbone initialises
    the model before the run (fine-tuning; ignored when ``--ckpt_path`` resumes a run). It is an argument of
    the run, not of the model, so a fine-tuned checkpoint rebuilds without the catalogue."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--init_weights", type=Optional[str], default=None,
                            help="pretrained name (model or model.tag) or weights/checkpoint file whose backbone "
                                 "initialises the model (fine-tuning; the head stays fresh)")

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        source = self._get(self.config, "init_weights")
        if source and not self._get(self.config, "ckpt_path"):
            load_backbone(self.model, source)


def make_cli(args: list[str], *, run: bool = True, **kwargs) -> LightningCLI:
    """The LightningCLI behind ``fraczoo``: any zoo model / data module by class path, optimizers from the
    model. ``run=False`` only parses and instantiates (scripts, tests)."""
    import fraczoo.datamodules  # noqa: F401  (subclasses must be importable for class_path shorthands)

    return ZooCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                  save_config_kwargs={"overwrite": True}, args=args, run=run, auto_configure_optimizers=False,
                  **kwargs)


if __name__ == "__main__":
    main()
