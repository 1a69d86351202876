"""Make the zoo's pretrained weights, reproducibly, from the shipped configs.

    python scripts/make_pretrained.py                       # every recipe
    python scripts/make_pretrained.py spectral_fractional_cnn.fields

Each recipe runs ``fraczoo fit`` on a catalogue config (with the overrides listed below), validates,
writes ``models/<name>/<tag>.pt`` (hyperparameters + state dict, loadable with ``weights_only=True``),
records its sha256 in ``models/<name>/pretrained.yaml`` and the validation metrics in
``models/<name>/<tag>.metrics.json`` for the model card.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "runs" / "make_pretrained"  # intermediate weights of multi-stage recipes

_QUIET = ["--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false"]
# The AnDi regressor's validation MAE still falls after one 12-epoch cosine cycle; a second cycle from
# its weights, at half the peak lr and on fresh trajectories (data seed 1), goes on lowering it, and for
# 1D a short third one at a low lr (data seed 2) a little more (warm restarts: Loshchilov & Hutter,
# "SGDR", ICLR 2017).
_ANDI_STAGE1 = ["--trainer.max_epochs=12", *_QUIET]
_ANDI_STAGE2 = ["--trainer.max_epochs=12", "--model.init_args.lr=0.0015", "--data.init_args.seed=1", *_QUIET]
_ANDI_STAGE3 = ["--trainer.max_epochs=6", "--model.init_args.lr=0.0002", "--data.init_args.seed=2", *_QUIET]
_ANDI_2D = ["--model.init_args.dim=2", "--data.init_args.dim=2"]

# name.tag -> (config, CLI overrides, one-line description). CPU budget: minutes per recipe on 2 cores.
# The overrides may be a list of stages (lists of overrides): each stage after the first starts from
# the full weights of the stage before it, and those intermediate weights are kept under runs/ so an
# interrupted recipe goes on from its last finished stage.
RECIPES = {
    "bayesian_alpha_regressor.andi1d": (
        "models/bayesian_alpha_regressor/config.yaml",
        [_ANDI_STAGE1 + ["--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi1d"],
         _ANDI_STAGE2 + ["--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi1d"],
         _ANDI_STAGE3 + ["--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi1d"]],
        "alpha (Gaussian mean, std) of 1D AnDi 2020 trajectories: 5 models, challenge noise, lengths 10..1000, "
        "983,040 fresh trajectories (12 + 12 + 6 epochs with warm restarts; ~2 h on 1 free CPU thread)",
    ),
    "bayesian_alpha_regressor.andi2d": (
        "models/bayesian_alpha_regressor/config.yaml",
        [_ANDI_STAGE1 + _ANDI_2D + ["--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi2d"],
         _ANDI_STAGE2 + _ANDI_2D + ["--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi2d"]],
        "alpha (Gaussian mean, std) of 2D AnDi 2020 trajectories: 5 models, challenge noise, lengths 10..1000, "
        "786,432 fresh trajectories (12 + 12 epochs with a warm restart; ~90 min on 1 free CPU thread)",
    ),
    "spectral_fractional_cnn.fields": (
        "models/spectral_fractional_cnn/config.yaml",
        ["--trainer.max_epochs=30", *_QUIET],
        "Hurst exponent of 32x32 fractional Gaussian fields, hybrid block (FractionalFieldDataModule, seed 0, "
        "4096 new fields per epoch, 30 epochs; ~15 min on 1 CPU thread)",
    ),
    # fine-tunes the .fields weights just made (finetune.yaml, read on top of config.yaml: init_weights
    # spectral_fractional_cnn.fields)
    "spectral_fractional_cnn.digits": (
        ["models/spectral_fractional_cnn/config.yaml", "models/spectral_fractional_cnn/finetune.yaml"],
        _QUIET,
        "10-class 8x8 digits (scikit-learn's UCI set, resized to 16x16, seed 0 split), fine-tuned from .fields "
        "for 30 epochs (~3 min on 1 CPU thread)",
    ),
    "stochastic_memory_seq.arfima": (
        "models/stochastic_memory_seq/config.yaml",
        ["--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false",
         "--trainer.default_root_dir=runs/stochastic_memory_seq.arfima"],
        "one-step forecasting of ARFIMA(0,d,0) series, d ~ U(0.05, 0.45), 512 steps (LongMemoryDataModule, "
        "seed 0): gated mix of 8 fractional-difference forecasters, 3 epochs (~1 min on 1 CPU thread)",
    ),
    "neural_fode.oscillator": (
        "models/neural_fode/config.yaml",
        ["--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false",
         "--trainer.default_root_dir=runs/neural_fode.oscillator"],
        "vector field and order of the fractional damped oscillator D^0.8 [x, v] = [v, -2.25 x - 0.3 v] from "
        "256 noisy trajectories (FractionalDynamicsDataModule, seed 0), 40 epochs (~3 min on 1 CPU thread)",
    ),
}


def _fit(config: str | list[str], overrides: list[str], init: dict | None):
    from fraczoo.cli import make_cli

    configs = [config] if isinstance(config, str) else config  # a list: each file on top of the one before
    cli = make_cli([*(a for c in configs for a in ("--config", str(ROOT / c))), *overrides], run=False,
                   save_config_callback=None)
    if init is not None:
        cli.model.load_state_dict(init)
    cli.trainer.fit(cli.model, cli.datamodule)
    return cli


def make(key: str) -> dict:
    from fraczoo.models._catalogue import catalogue_dir
    from fraczoo.models._weights import read_weights, save_weights

    config, overrides, description = RECIPES[key]
    stages = overrides if overrides and isinstance(overrides[0], list) else [overrides]
    name, tag = key.split(".")
    start = time.time()
    state = None
    for i, stage in enumerate(stages[:-1], 1):
        cache = STAGES / f"{key}.stage{i}.pt"
        recipe = {"config": config, "stages": stages[:i]}
        cached = read_weights(cache) if cache.is_file() else {}
        if cached.get("recipe") == recipe:
            print(f"{key}: stage {i}/{len(stages)} taken from {cache}")
            state = cached["state_dict"]
            continue
        cli = _fit(config, stage, state)
        save_weights(cli.model, cache, tag=f"{tag}.stage{i}", recipe=recipe)
        state = cli.model.state_dict()
    cli = _fit(config, stages[-1], state)
    metrics = {k: float(v) for k, v in cli.trainer.validate(cli.model, cli.datamodule, verbose=False)[0].items()}
    folder = catalogue_dir() / name
    sha = save_weights(cli.model, folder / f"{tag}.pt", tag=tag)
    index_path = folder / "pretrained.yaml"
    index = yaml.safe_load(index_path.read_text()) if index_path.exists() else {}
    index = index or {}
    index.setdefault("tags", {})
    # the first recipe listed for a model is its default tag
    index["default"] = next(k for k in RECIPES if k.startswith(name + ".")).split(".")[1]
    index["tags"][tag] = {"file": f"{tag}.pt", "sha256": sha, "description": description,
                          "recipe": f"python scripts/make_pretrained.py {key}"}
    index_path.write_text(yaml.safe_dump(index, sort_keys=False))
    record = {"model": key, "config": config, "overrides": overrides, "val_metrics": metrics,
              "train_seconds": round(time.time() - start, 1), "sha256": sha}
    (folder / f"{tag}.metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return record


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", help=f"recipes to run (default: all): {', '.join(RECIPES)}")
    args = parser.parse_args(argv)
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipe(s) {unknown}; available: {', '.join(RECIPES)}")
    for key in args.recipes or RECIPES:
        make(key)


if __name__ == "__main__":
    from _bench import run_main

    run_main(main)
