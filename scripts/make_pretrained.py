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
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "runs" / "make_pretrained"  # intermediate weights of multi-stage recipes

_QUIET = ["--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false"]


def _andi_start(dim: int, sha256: str) -> dict:
    """The AnDi regressor weights shipped before the simulator matched the organisers' generator, made
    from scratch on fraczoo's model-balanced simulator with the recipe of commit 31817b4: stage 1 12
    epochs at peak lr 3e-3 (data seed 0), stage 2 12 epochs at 1.5e-3 (seed 1), for 1D stage 3 6 epochs
    at 2e-4 (seed 2), each a warm restart from the one before (Loshchilov & Hutter, "SGDR", ICLR 2017)."""
    return {"git": f"31817b4:models/bayesian_alpha_regressor/andi{dim}d.pt", "sha256": sha256}


_HISTOGRAM = ["--model.init_args.posterior=histogram", "--model.init_args.hidden=128"]  # the head of _andi_head
_WIDE = "--model.init_args.width=48"  # the widened backbone (32 -> 48): every stage from a widening on needs it
# the deepened 1D backbone (receptive field 255 -> 1023 steps): every stage from the deepening on needs it
_DEEP_1D = "--model.init_args.dilations=[1,2,4,8,16,32,64,128,256]"


# 400,000 trajectories made by the organisers' generator (seeds 23..26, none used for validation or test):
# scripts/andi_official.sh task1 --dim 1 --n 100000 --seed S, for S in 23 24 25 26
_OFFICIAL_TRAIN_1D = ("--data.init_args.train_file=["
                      + ",".join(f"data/andi_official/task1_1d_n100000_seed{s}.npz" for s in (23, 24, 25, 26)) + "]")


# a stage run on one GPU (the accelerator is Lightning's "auto"; on CPU it runs too, about 40x slower per thread):
# batches of 512 drawn fresh by 12 DataLoader workers; deterministic "warn" so that a CUDA op without a
# deterministic kernel warns instead of stopping the run (none did on an H200)
_GPU_1D = ("--data.init_args.train_size=262144", "--data.init_args.batch_size=512", "--data.init_args.num_workers=12",
           "--trainer.deterministic=warn")


# the length expert (``short_max_length``): trajectories of 10..49 positions go to their own network
_SHORT = ("--model.init_args.short_max_length=49", "--model.init_args.short_width=64",
          "--model.init_args.short_dilations=[1,2,4,8,16,32]")


# a stage of the main network once the length expert has joined: only the trajectories it reads (50+ positions)
_MAIN_ONLY = (*_SHORT, "--data.init_args.min_length=50", "--data.init_args.train_size=98304")


def _andi_short(dim: int, epochs: int, size: int, seed: int, model: list[str]) -> dict:
    """A length expert trained from scratch (``_fit_expert``): a width-64 network with dilations 1..32
    (receptive field 127 positions) and a histogram head, on ``epochs`` x ``size`` fresh trajectories of
    10..49 positions of the organisers' task-1 mix, each the start of a 999-position trajectory (``full_length``,
    as their sets make short trajectories), batches of 512 simulated by one DataLoader worker, AdamW at peak lr
    2e-3, warmup 200 steps + cosine. ``model``: the overrides of the model it joins (``_SHORT`` among them)."""
    expert = [*_HISTOGRAM, "--model.init_args.width=64", "--model.init_args.dilations=[1,2,4,8,16,32]",
              f"--model.init_args.dim={dim}", "--model.init_args.lr=0.002", "--model.init_args.warmup_steps=200",
              f"--data.init_args.dim={dim}", "--data.init_args.balance=challenge", "--data.init_args.min_length=10",
              "--data.init_args.max_length=49", "--data.init_args.full_length=999",
              f"--data.init_args.train_size={size}", "--data.init_args.batch_size=512",
              "--data.init_args.num_workers=1", f"--data.init_args.seed={seed}",
              f"--trainer.max_epochs={epochs}", "--trainer.limit_val_batches=0",
              f"--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi{dim}d", *_QUIET]
    return {"expert": expert, "model": model}


def _andi_official(dim: int, epochs: int, lr: float, seed: int, extra: tuple[str, ...] = ()) -> list[str]:
    """Fine-tuning on the organisers' task-1 mix (``balance=challenge``: alpha <= 1 only attm/ctrw, on
    the 0.05 grid; lengths 10..999) from the corrected simulator (data seed ``seed``), validated on a set
    made by the organisers' own generator (``scripts/andi_official.sh task1 --dim <dim> --n 20000 --seed 1``).
    ``extra``: further overrides, e.g. ``_HISTOGRAM`` to train a histogram-head model end to end."""
    return [*extra, f"--trainer.max_epochs={epochs}", f"--trainer.check_val_every_n_epoch={max(1, epochs // 2)}",
            f"--model.init_args.lr={lr}", f"--model.init_args.dim={dim}", f"--data.init_args.dim={dim}",
            "--data.init_args.balance=challenge", "--data.init_args.max_length=999", f"--data.init_args.seed={seed}",
            f"--data.init_args.val_file=data/andi_official/task1_{dim}d_n20000_seed1.npz",
            f"--trainer.default_root_dir=runs/bayesian_alpha_regressor.andi{dim}d", *_QUIET]


def _andi_head(dim: int, n: int, epochs: int, seed: int, extra: tuple[str, ...] = ()) -> dict:
    """A histogram posterior head (40 bins, hidden 128) trained on the frozen backbone of the stage before:
    the backbone's features of ``n`` trajectories of the organisers' task-1 mix (data seed ``seed``) are
    computed once, then the head alone is fitted for ``epochs`` passes over them (``_fit_head``).
    ``extra``: further overrides, e.g. the backbone's width when it is not the config's."""
    overrides = [*extra, f"--model.init_args.dim={dim}", f"--data.init_args.dim={dim}", *_HISTOGRAM,
                 "--model.init_args.lr=0.002", "--data.init_args.balance=challenge",
                 "--data.init_args.max_length=999", f"--data.init_args.train_size={n}", f"--data.init_args.seed={seed}",
                 "--data.init_args.batch_size=512",
                 f"--data.init_args.val_file=data/andi_official/task1_{dim}d_n20000_seed1.npz", *_QUIET]
    return {"head": overrides, "epochs": epochs}


# name.tag -> (config, CLI overrides, one-line description). CPU budget: minutes per recipe on 2 cores.
# The overrides may be a list of stages (lists of overrides): each stage after the first starts from
# the full weights of the stage before it, and every stage's weights are kept under runs/ so an
# interrupted or extended recipe goes on from its last finished stage. The first stage may instead be
# {"git": "<commit>:<path>", "sha256": ...}: start from those full weights as committed in git; a later
# stage may be {"head": overrides, "epochs": E}: a new head on the frozen backbone (``_fit_head``), or
# {"widen": overrides}: a fit stage whose model is wider than the stage before (``_widened``), or
# {"deepen": overrides}: a fit stage whose model has more residual blocks than the stage before (``_deepened``), or
# {"expert": overrides, "model": overrides}: a length expert trained from scratch and joined to the stage before
# (``_fit_expert``).
RECIPES = {
    "bayesian_alpha_regressor.andi1d": (
        "models/bayesian_alpha_regressor/config.yaml",
        [_andi_start(1, "c3f1efa48e0e7916c1bee59ae97c250fdd8212480fa47ddf068a764b40abc6ad"),
         _andi_official(1, 4, 0.001, 3), _andi_head(1, 1_500_000, 40, 5),
         _andi_official(1, 8, 0.001, 6, extra=(*_HISTOGRAM, "--data.init_args.train_size=98304")),
         _andi_head(1, 1_500_000, 40, 7),
         {"widen": _andi_official(1, 9, 0.001, 9, extra=(*_HISTOGRAM, _WIDE, "--data.init_args.train_size=98304"))},
         _andi_head(1, 1_500_000, 40, 12, extra=(_WIDE,)),
         _andi_official(1, 8, 0.0005, 13, extra=(*_HISTOGRAM, _WIDE, "--data.init_args.train_size=98304")),
         _andi_official(1, 6, 0.0005, 14, extra=(*_HISTOGRAM, _WIDE, "--data.init_args.train_size=98304")),
         {"deepen": _andi_official(1, 8, 0.0005, 15,
                                   extra=(*_HISTOGRAM, _WIDE, _DEEP_1D, "--data.init_args.train_size=98304"))},
         _andi_official(1, 1, 0.00025, 0, extra=(*_HISTOGRAM, _WIDE, _DEEP_1D, _OFFICIAL_TRAIN_1D)),
         _andi_official(1, 5, 0.0005, 17, extra=(*_HISTOGRAM, _WIDE, _DEEP_1D, *_GPU_1D)),
         _andi_official(1, 3, 0.00025, 18, extra=(*_HISTOGRAM, _WIDE, _DEEP_1D, *_GPU_1D)),
         _andi_short(1, 4, 3_276_800, 19,
                     model=_andi_official(1, 3, 0.00025, 18, extra=(*_HISTOGRAM, _WIDE, _DEEP_1D, *_SHORT)))],
        "alpha (histogram posterior, median and std) of 1D AnDi 2020 trajectories: 5 models, challenge noise, "
        "lengths 10..999; the former 12 + 12 + 6-epoch weights fine-tuned for 4 epochs on the organisers' task-1 "
        "mix, a histogram head fitted on the frozen backbone (1,500,000 trajectories of that mix), 8 epochs "
        "of 98,304 end to end, a fresh histogram head on the frozen backbone (1,500,000 trajectories), the "
        "backbone widened 32 -> 48 channels (Net2Net) and 9 epochs of 98,304 end to end, a fresh head again, "
        "then 8 + 6 more epochs of 98,304 end to end at peak lr 5e-4, then the backbone deepened by two residual "
        "blocks (dilations 128 and 256, receptive field 255 -> 1023 steps) and 8 epochs of 98,304 end to end, "
        "then 1 epoch over 400,000 trajectories made by the organisers' generator at peak lr 2.5e-4, then "
        "5 + 3 epochs of 262,144 in batches of 512 at peak lr 5e-4 and 2.5e-4 (on one GPU); trajectories of "
        "10..49 positions go to a length expert (width 64, dilations 1..32, its own histogram head) trained "
        "from scratch on 4 epochs x 3,276,800 fresh starts of 999-position challenge-mix trajectories",
    ),
    "bayesian_alpha_regressor.andi2d": (
        "models/bayesian_alpha_regressor/config.yaml",
        [_andi_start(2, "6967e0b6903c70473cd00f1c691e4394b75e919c33437689762e6df47b577074"),
         _andi_official(2, 4, 0.001, 3), _andi_official(2, 1, 0.0002, 4),
         _andi_head(2, 1_500_000, 40, 5),
         _andi_short(2, 3, 3_276_800, 19, model=_andi_official(2, 1, 0.0002, 4, extra=(*_HISTOGRAM, *_SHORT))),
         # the main network end to end with its histogram head, twice, then widened (the expert, frozen, sees no
         # trajectory here)
         _andi_official(2, 10, 0.001, 20, extra=(*_HISTOGRAM, *_MAIN_ONLY)),
         _andi_official(2, 5, 0.0005, 21, extra=(*_HISTOGRAM, *_MAIN_ONLY)),
         {"widen": _andi_official(2, 7, 0.001, 22, extra=(*_HISTOGRAM, _WIDE, *_MAIN_ONLY))},
         # a fresh head on the widened backbone, as 1D had after its widening, on the trajectories it reads
         _andi_head(2, 1_500_000, 40, 23, extra=(_WIDE, *_SHORT, "--data.init_args.min_length=50"))],
        "alpha (histogram posterior, median and std) of 2D AnDi 2020 trajectories: 5 models, challenge noise, "
        "lengths 10..999; the former 12 + 12-epoch weights fine-tuned for 4 + 1 epochs on the organisers' task-1 "
        "mix, then a histogram head fitted on the frozen backbone (1,500,000 trajectories "
        "of that mix); trajectories of 10..49 positions go to a length expert (width 64, dilations 1..32, its "
        "own histogram head) trained from scratch on 3 epochs x 3,276,800 fresh starts of 999-position "
        "challenge-mix trajectories; then the main network and its head trained together, the expert frozen: "
        "10 epochs x 98,304 challenge-mix trajectories of 50..999 positions at peak lr 1e-3, and 5 more at 5e-4; "
        "then the main backbone widened 32 -> 48 channels (Net2Net) and 7 more epochs at 1e-3, then a fresh "
        "histogram head on the frozen backbone (1,500,000 trajectories of 50..999 positions)",
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
    "spectral_fractional_cnn.fields64": (
        "models/spectral_fractional_cnn/config.yaml",
        ["--data.init_args.size=64", "--trainer.max_epochs=40", *_QUIET],
        "Hurst exponent of 64x64 fractional Gaussian fields, hybrid block (FractionalFieldDataModule at size 64, "
        "seed 0, 4096 new fields per epoch, 40 epochs; ~4 min on 1 CPU thread)",
    ),
    "stochastic_memory_seq.arfima": (
        "models/stochastic_memory_seq/config.yaml",
        ["--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false",
         "--trainer.default_root_dir=runs/stochastic_memory_seq.arfima"],
        "one-step forecasting of ARFIMA(0,d,0) series, d ~ U(0.05, 0.45), 512 steps (LongMemoryDataModule, "
        "seed 0): gated mix of 8 fractional-difference forecasters, 3 epochs (~1 min on 1 CPU thread)",
    ),
    # made with the Adam recipe config.yaml had before its L-BFGS option (with many noisy trajectories Adam
    # recovers the order too); the overrides keep these weights' recipe what it was
    "neural_fode.oscillator": (
        "models/neural_fode/config.yaml",
        ["--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false",
         "--trainer.default_root_dir=runs/neural_fode.oscillator", "--model.init_args.optimizer=adam",
         "--model.init_args.lr=0.01", "--model.init_args.alpha_lr=0.05", "--data.init_args.batch_size=32"],
        "vector field and order of the fractional damped oscillator D^0.8 [x, v] = [v, -2.25 x - 0.3 v] from "
        "256 noisy trajectories (FractionalDynamicsDataModule, seed 0), 40 epochs (~3 min on 1 CPU thread)",
    ),
}


def _cli(config: str | list[str], overrides: list[str]):
    from fraczoo.cli import make_cli

    configs = [config] if isinstance(config, str) else config  # a list: each file on top of the one before
    return make_cli([*(a for c in configs for a in ("--config", str(ROOT / c))), *overrides], run=False,
                    save_config_callback=None)


def _fit(config: str | list[str], overrides: list[str], init: dict | None, grow=None):
    """Fit the model the overrides describe, starting from the state dict ``init`` (if given), first grown
    to that model by ``grow(init, model)`` (``_widened`` or ``_deepened``) if given; a length expert in
    ``init`` is frozen, so the stage trains the main network only."""
    cli = _cli(config, overrides)
    if init is not None:
        cli.model.load_state_dict(grow(init, cli.model) if grow else init)
        if any(k.startswith("short_") for k in init):
            # a length expert already joined keeps its weights: it has a stage of its own (``_fit_expert``), and
            # AdamW's weight decay would move it even on batches that never reach it
            for module in (cli.model.short_backbone, cli.model.short_head):
                module.requires_grad_(False)
    cli.trainer.fit(cli.model, cli.datamodule)
    return cli


def _widened(state: dict, model) -> dict:
    """``state`` of a ``BayesianAlphaRegressor`` grown to ``model``'s wider backbone without changing its
    function (Chen, Goodfellow & Shlens, "Net2Net", ICLR 2016): the old channels keep their weights and
    ignore the new ones (zero weights from new to old channels, and from the new channels' pooled features
    to the head); the new channels start from ``model``'s own initialisation, so they learn from the first
    step (the zero weights out of them get gradients)."""
    new = {k: v.clone() for k, v in model.state_dict().items()}
    old_w, new_w = state["backbone.stem.weight"].shape[0], new["backbone.stem.weight"].shape[0]
    if new_w < old_w or any(new[k].dim() != v.dim() for k, v in state.items()):
        raise ValueError(f"cannot widen a width-{old_w} backbone to width {new_w}")
    for key, old in state.items():
        if key == "head.0.weight":
            # columns [mean of the channels, peak of the channels, the rest]: old means, old peaks, rest
            rest = old.shape[1] - 2 * old_w
            target = new[key]
            target[:, :old_w], target[:, new_w:new_w + old_w] = old[:, :old_w], old[:, old_w:2 * old_w]
            target[:, old_w:new_w] = target[:, new_w + old_w:2 * new_w] = 0.0
            target[:, 2 * new_w:] = old[:, 2 * old_w:2 * old_w + rest]
        elif key.startswith("backbone.") and old.shape != new[key].shape:
            target = new[key]
            target[tuple(slice(0, n) for n in old.shape)] = old
            if old.dim() == 3 and key != "backbone.stem.weight":  # conv (out, in, k): old outputs ignore new inputs
                target[:old_w, old_w:] = 0.0
        else:
            new[key] = old.clone()
    return new


def _deepened(state: dict, model) -> dict:
    """``state`` of a ``BayesianAlphaRegressor`` grown to ``model``'s deeper backbone (residual blocks
    appended after the old ones, e.g. larger dilations) without changing its function: every old weight is
    kept, the new blocks start from ``model``'s own initialisation except their output 1x1 conv, which is
    zero, so each new block starts as the identity (a zero-initialised residual branch, as in Goyal et al.
    2017 and Bachlechner et al., "ReZero", 2021); the first step moves those zeros, the next the new convs."""
    new = {k: v.clone() for k, v in model.state_dict().items()}
    clash = [k for k, v in state.items() if k not in new or new[k].shape != v.shape]
    added = [k for k in new if k not in state]
    foreign = [k for k in added if not k.startswith("backbone.blocks.")]
    if clash or foreign:
        raise ValueError(f"cannot deepen: the new model must keep every old weight's shape and only add "
                         f"backbone blocks; differing {clash + foreign}")
    for key in added:
        if ".mix." in key:
            new[key].zero_()
    new.update({k: v.clone() for k, v in state.items()})
    return new


_GROWN = {"widen": _widened, "deepen": _deepened}  # recipe stage key -> how the stage before's weights grow


def _fit_expert(config: str | list[str], stage: dict, state: dict):
    """Train the length expert the ``expert`` overrides describe from scratch, then join it to ``state``
    (the weights of the stage before) in the model of the ``model`` overrides: its backbone and head become
    that model's ``short_backbone`` and ``short_head``."""
    expert = _fit(config, stage["expert"], None).model.state_dict()
    cli = _cli(config, stage["model"])
    joined = dict(state)
    # backbone.* -> short_backbone.*, head.* -> short_head.*
    joined.update({f"short_{k}": v for k, v in expert.items()})
    cli.model.load_state_dict(joined)
    return cli


def _fit_head(config: str | list[str], stage: dict, state: dict):
    """Keep every weight of ``state`` but its head (the backbone, and a length expert if there is one), fit a
    fresh head (the model the overrides describe) on the frozen backbone's features of one epoch of the
    datamodule's training stream, computed once: AdamW at the model's lr and weight decay, batches of the
    datamodule's batch size, linear warmup over 2% of the steps and cosine decay over ``stage["epochs"]``
    passes, the model's own loss."""
    import torch

    from fraczoo.models._base import warmup_cosine

    cli = _cli(config, stage["head"])
    model, data = cli.model, cli.datamodule
    kept = {k: v for k, v in state.items() if not k.startswith("head.")}
    target = model.state_dict()
    misfits = [k for k, v in kept.items() if k not in target or target[k].shape != v.shape]
    missing = [k for k in target if not k.startswith("head.") and k not in kept]
    if misfits or missing:
        raise ValueError(f"the head stage's model does not fit the stage before: its weights {misfits} have no "
                         f"place of that shape in the model, and the model's {missing} are not in it")
    model.load_state_dict(kept, strict=False)
    model.backbone.requires_grad_(False)
    features, alpha = [], []
    with torch.no_grad():
        for batch in data.train_stream:
            features.append(model.backbone(batch["x"], batch["lengths"]))
            alpha.append(batch["alpha"])
    features, alpha = torch.cat(features), torch.cat(alpha)
    print(f"head stage: features of {len(alpha)} trajectories cached")
    torch.manual_seed(data.hparams.seed)
    opt = torch.optim.AdamW(model.head.parameters(), lr=model.hparams.lr, weight_decay=model.hparams.weight_decay)
    batches = -(-len(alpha) // data.hparams.batch_size)
    total = stage["epochs"] * batches
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(max(1, total // 50), total))
    model.train()
    for epoch in range(stage["epochs"]):
        for idx in torch.randperm(len(alpha)).split(data.hparams.batch_size):
            loss = model.loss(model.head(features[idx]), alpha[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"head stage: epoch {epoch + 1}/{stage['epochs']} last batch loss {float(loss):.4f}")
    model.backbone.requires_grad_(True)
    return cli


def _weights_from_git(start: dict) -> dict:
    """Full state dict of a weights file as committed in git: ``{"git": "<commit>:<path>", "sha256": ...}``."""
    from fraczoo.models._weights import read_weights

    blob = subprocess.run(["git", "-C", str(ROOT), "show", start["git"]], check=True, capture_output=True).stdout
    if hashlib.sha256(blob).hexdigest() != start["sha256"]:
        sys.exit(f"git show {start['git']} does not have sha256 {start['sha256']}")
    path = STAGES / f"git-{hashlib.sha256(start['git'].encode()).hexdigest()[:16]}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return read_weights(path, sha256=start["sha256"])["state_dict"]


def make(key: str) -> dict:
    from fraczoo.models._catalogue import catalogue_dir
    from fraczoo.models._weights import read_weights, save_weights

    config, overrides, description = RECIPES[key]
    stages = overrides if overrides and isinstance(overrides[0], (list, dict)) else [overrides]
    name, tag = key.split(".")
    start = time.time()
    state, first, before = None, 0, 0.0
    # go on from the latest finished stage (every stage's weights are cached with the recipe up to it);
    # the last stage always runs
    for i in range(len(stages) - 1, 0, -1):
        cache = STAGES / f"{key}.stage{i}.pt"
        cached = read_weights(cache) if cache.is_file() else {}
        if cached.get("recipe") == {"config": config, "stages": stages[:i]}:
            print(f"{key}: stage {i}/{len(stages)} taken from {cache}")
            # seconds of stages 1..i; None for a cache written before caches kept them
            state, first, before = cached["state_dict"], i, cached.get("train_seconds")
            break
    for i, stage in enumerate(stages[first:], first + 1):
        if isinstance(stage, dict) and "git" in stage:  # full weights to start from (first stage only)
            state = _weights_from_git(stage)
            continue
        kind = next((k for k in _GROWN if k in stage), None) if isinstance(stage, dict) else None
        if kind:
            cli = _fit(config, stage[kind], state, grow=_GROWN[kind])
        elif isinstance(stage, dict):
            cli = (_fit_expert if "expert" in stage else _fit_head)(config, stage, state)
        else:
            cli = _fit(config, stage, state)
        state = cli.model.state_dict()
        save_weights(cli.model, STAGES / f"{key}.stage{i}.pt", tag=f"{tag}.stage{i}",
                     recipe={"config": config, "stages": stages[:i]},
                     train_seconds=None if before is None else round(before + time.time() - start, 1))
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
    run = time.time() - start
    record = {"model": key, "config": config, "overrides": overrides, "val_metrics": metrics,
              # every stage's seconds (None when a cached stage's are not known), and this run's alone
              "train_seconds": None if before is None else round(before + run, 1),
              "run_seconds": round(run, 1), "stages_run": list(range(first + 1, len(stages) + 1)), "sha256": sha}
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
