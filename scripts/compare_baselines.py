"""Zoo models against what a user would pick instead, trained in the same run on the same data with the
same budget (issue 18). One task per call; each writes benchmarks/compare_baselines_<task>.json.

    python scripts/compare_baselines.py --task fields     # Hurst exponent of 32x32 and 64x64 fields
    python scripts/compare_baselines.py --task digits     # 16x16 handwritten digits, from scratch / fine-tuned
    python scripts/compare_baselines.py --task shipped    # the shipped .fields* / .digits weights, no training
    python scripts/compare_baselines.py --task dynamics   # neural_fode vs a neural ODE (scripts/compare_dynamics.py)
    python scripts/compare_baselines.py --task fields --quick   # smoke run (tiny data, 1 epoch, 1 seed)

fields: spectral_fractional_cnn (the hybrid block of models/spectral_fractional_cnn/config.yaml), a plain
3x3 CNN and an FNO-style model (Fourier layers with dense spectral weights on the lowest modes, Li et al.
2021), each with the zoo model's parameter count (+-5%), head, loss, optimizer and schedule, trained on the
same fields for the same epochs, one run per seed (seed = data seed and initialisation); beside them the
exact maximum-likelihood estimator (Whittle likelihood, exact for periodic fields, variance profiled out),
the exact posterior median under the data's uniform prior (the least expected absolute error of any
estimator) and the classical variogram fit, all scored on the same test fields (Hurst MAE).
digits: spectral_fractional_cnn from scratch and fine-tuned from the shipped ``.fields`` weights
(models/spectral_fractional_cnn/finetune.yaml on top of config.yaml), and a plain 3x3 CNN of the same
size; test accuracy.
dynamics: neural_fode against a torchdiffeq neural ODE on relaxation, the fractional oscillator and
Lotka-Volterra (``compare_dynamics.run_dynamics``, whose docstring has the set-up); writes
benchmarks/compare_dynamics.json, the file the neural_fode card quotes, as ``compare_dynamics.py`` does.
Both tasks also score the shipped pretrained weights on seed 0's test split.

Every number is a test-split metric of the final weights of a fresh run (no early stopping, no selection
on the test split); tables give the mean and the standard deviation over seeds.
"""
from __future__ import annotations

import argparse
import functools
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import lightning as L
import torch
import yaml
from torch import Tensor, nn

from _bench import ROOT, print_table, progress, run_main, write_json

import fraczoo
from fraczoo.datamodules import DigitsDataModule, FractionalFieldDataModule
from fraczoo.datamodules.hurst_estimators import hurst_mle, hurst_posterior_median, variogram_hurst
from fraczoo.models.spectral_fractional_cnn import SpectralFractionalCNN

TASKS = ("fields", "digits", "shipped", "dynamics")
CATALOGUE = ROOT / "models" / "spectral_fractional_cnn"


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


ZOO_ARGS: dict = {}  # --zoo-args: overrides of config.yaml's model arguments (in every worker process)


def config_args(name: str, section: str) -> dict:
    """The init_args of ``section`` ("model" or "data") in a catalogue config of spectral_fractional_cnn
    (the model's with the ``--zoo-args`` overrides)."""
    args = dict(yaml.safe_load((CATALOGUE / name).read_text())[section]["init_args"])
    return {**args, **ZOO_ARGS} if section == "model" else args


def parse_overrides(items: list[str]) -> dict:
    """["key=value", ...] -> {key: value}, values read as YAML (16 -> int, [8, 16] -> list)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--zoo-args takes key=value pairs, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


@functools.cache
def finetune_args() -> tuple[dict, dict, str]:
    """The model and data arguments and the start weights of the shipped fine-tuning run, as ``fraczoo fit
    --config spectral_fractional_cnn:finetune`` composes them (finetune.yaml on top of config.yaml)."""
    from fraczoo.cli import make_cli, resolve_configs

    cli = make_cli([*resolve_configs(["--config", "spectral_fractional_cnn:finetune"]), "--init_weights=null",
                    "--trainer.logger=false", "--trainer.callbacks=[]"], run=False)
    public = lambda hparams: {k: v for k, v in hparams.items() if not k.startswith("_")}  # noqa: E731
    init = yaml.safe_load((CATALOGUE / "finetune.yaml").read_text())["init_weights"]
    return public(cli.model.hparams), public(cli.datamodule.hparams), init


def baseline_args(zoo_args: dict, widths) -> dict:
    """A baseline's constructor arguments: the zoo model's (head, task, optimizer), with a spectral-block
    backbone of ``widths`` whose last width sizes the head (the baseline then swaps the backbone)."""
    return {**zoo_args, "channels": tuple(widths), "block": "spectral", "alpha_init": 0.5, "kernel_size": 3,
            "spectrum_bins": 0}


class PlainCNN(SpectralFractionalCNN):
    """The zoo model's head, loss and optimizer on a plain backbone: stages [3x3 conv -> BatchNorm -> GELU ->
    2x2 average pool] of ``widths``, global average pool."""

    def __init__(self, widths: tuple[int, ...], **kwargs):
        super().__init__(**baseline_args(kwargs, widths))
        stages, prev = [], self.hparams.in_channels
        for width in widths:
            stages += [nn.Conv2d(prev, width, 3, padding=1), nn.BatchNorm2d(width), nn.GELU(), nn.AvgPool2d(2)]
            prev = width
        self.backbone = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())


class FourierLayer2d(nn.Module):
    """FNO's layer y = GELU(F^-1(R(k) F x) + W x): R(k) a dense complex channel matrix on each retained mode
    (|k_y| < modes, 0 <= k_x < modes, rfft2 layout), zero on the others; W a 1x1 convolution."""

    def __init__(self, width: int, modes: int):
        super().__init__()
        self.modes = modes
        # real storage of the complex weights (two corners: k_y >= 0 and k_y < 0), so numel counts reals
        self.spectral = nn.Parameter(torch.randn(2, width, width, modes, modes, 2) / (width * width))
        self.local = nn.Conv2d(width, width, 1)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        rows, cols = min(self.modes, height // 2), min(self.modes, width // 2 + 1)
        weights = torch.view_as_complex(self.spectral)
        spec = torch.fft.rfft2(x)
        out = torch.zeros_like(spec)
        out[..., :rows, :cols] = torch.einsum("bixy,ioxy->boxy", spec[..., :rows, :cols], weights[0, ..., :rows, :cols])
        out[..., -rows:, :cols] = torch.einsum("bixy,ioxy->boxy", spec[..., -rows:, :cols], weights[1, ..., :rows, :cols])
        return nn.functional.gelu(torch.fft.irfft2(out, s=(height, width)) + self.local(x))


class FNOStyle(SpectralFractionalCNN):
    """The zoo model's head, loss and optimizer on an FNO backbone: 1x1 lift to ``width`` channels,
    ``layers`` Fourier layers with ``modes`` modes per axis, global average pool (Li et al., "Fourier neural
    operator for parametric partial differential equations", ICLR 2021)."""

    def __init__(self, width: int, modes: int, layers: int = 2, **kwargs):
        super().__init__(**baseline_args(kwargs, (width,)))
        self.backbone = nn.Sequential(nn.Conv2d(self.hparams.in_channels, width, 1),
                                      *(FourierLayer2d(width, modes) for _ in range(layers)),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())


def matched(build, args: dict, template: str):
    """The baseline ``build(size, **args_with_head_width)`` with the parameter count of the zoo model
    ``SpectralFractionalCNN(**args)``: the largest backbone ``size`` whose model (the zoo model's head
    width) has at most that count, then the head width that brings the count closest to it (within one
    head unit, a few parameters). Returns the model and ``template`` filled with size and head width."""
    zoo = SpectralFractionalCNN(**args)
    target, hidden = num_params(zoo), zoo.hparams.hidden
    count = lambda size, h: num_params(build(size, **{**args, "hidden": h}))  # noqa: E731
    size = max((s for s in range(2, 64) if count(s, hidden) <= target), default=2)
    head = min(range(1, 8 * hidden), key=lambda h: abs(count(size, h) - target))
    return build(size, **{**args, "hidden": head}), template.format(size) + f", head {head}"


def fit_and_test(model, data, epochs: int, seed: int) -> dict:
    L.seed_everything(seed)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, deterministic=True)
    trainer.fit(model, data)
    return trainer.test(model, data, verbose=False)[0]


def summarise(rows: list[dict], keys=("task", "model")) -> list[dict]:
    """Mean and standard deviation over seeds of the ``value`` of rows that agree on ``keys``."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for group in groups.values():
        values = [r["value"] for r in group]
        out.append({**{k: group[0][k] for k in keys}, "params": group[0]["params"],
                    "architecture": group[0].get("architecture", ""), "metric": group[0]["metric"],
                    "mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "seeds": len(values), **({"sha256": group[0]["sha256"]} if "sha256" in group[0] else {})})
    return out


# ---------------------------------------------------------------------------------------------------------
# one training run per (task, size, seed, model): independent, so they run in parallel worker processes

def fields_data(size: int, seed: int, args) -> FractionalFieldDataModule:
    data_args = config_args("config.yaml", "data")
    train_size = 256 if args.quick else args.fields_train_size or data_args["train_size"]
    return FractionalFieldDataModule(**{**data_args, "size": size, "seed": seed, "train_size": train_size,
                                        "val_size": 64 if args.quick else 512,
                                        "test_size": 64 if args.quick else args.test_size})


def fields_models(modes: int) -> dict:
    """label -> (constructor of the model, description of its size); every baseline matched to the zoo
    model's parameter count."""
    args = config_args("config.yaml", "model")
    return {"spectral_fractional_cnn": lambda: (SpectralFractionalCNN(**args), f"channels {args['channels']}"),
            "plain CNN 3x3": lambda: matched(lambda c, **kw: PlainCNN((c, 2 * c), **kw), args, "widths ({0}, 2x{0})"),
            "FNO-style": lambda: matched(lambda w, **kw: FNOStyle(w, modes, **kw), args,
                                         f"width {{0}}, {modes} modes, 2 Fourier layers"),
            "ablation: spectral_fractional_cnn without its fractional branch": lambda: (
                without_fractional_branch(SpectralFractionalCNN(**args)), "local 3x3 branch + log energies only")}


def without_fractional_branch(model: SpectralFractionalCNN) -> SpectralFractionalCNN:
    """The hybrid model with each block reduced to its local convolution: what the log band-energy
    readout achieves on plain convolutional features."""
    model.backbone.blocks = nn.ModuleList(block.local for block in model.backbone.blocks)
    return model


def digits_models() -> dict:
    args, _, init = finetune_args()
    return {"spectral_fractional_cnn, scratch": lambda: (SpectralFractionalCNN(**args), "scratch"),
            "spectral_fractional_cnn, fine-tuned from .fields": lambda: (
                fraczoo.create_model("spectral_fractional_cnn", init_weights=init, **args), f"init_weights {init}"),
            "plain CNN 3x3, scratch": lambda: matched(lambda c, **kw: PlainCNN((c, 2 * c), **kw), args,
                                                      "widths ({0}, 2x{0})")}


def train_unit(unit: tuple, args) -> dict:
    """Train and test one model: unit = (task, size, seed, label)."""
    torch.set_num_threads(1)
    ZOO_ARGS.update(parse_overrides(args.zoo_args))  # a spawned worker starts without them
    task, size, seed, label = unit
    L.seed_everything(seed)
    if task == "fields":
        data = fields_data(size, seed, args)
        model, described = fields_models(args.fno_modes)[label]()
        epochs, metric, key, name = (1 if args.quick else args.fields_epochs), "test MAE", "test_mae", f"Hurst, fields {size}x{size}"
    else:
        data = DigitsDataModule(**{**finetune_args()[1], "seed": seed})
        model, described = digits_models()[label]()
        epochs, metric, key, name = (2 if args.quick else args.digits_epochs), "test acc", "test_acc", "digits 16x16"
    start = time.perf_counter()
    res = fit_and_test(model, data, epochs, seed)
    return {"task": name, "model": label, "params": num_params(model), "architecture": described, "epochs": epochs,
            "metric": metric, "seed": seed, "value": res[key], "train_seconds": round(time.perf_counter() - start, 1)}


def run_units(units: list[tuple], args) -> list[dict]:
    if args.jobs == 1:
        return [train_unit(u, args) for u in progress(units, "training runs")]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(train_unit, u, args) for u in units]
        for _ in progress(as_completed(futures), "training runs"):
            pass
        return [f.result() for f in futures]


def estimator_rows(size: int, seed: int, args) -> list[dict]:
    """The statistical estimators on the test fields of one (size, seed)."""
    data = fields_data(size, seed, args)
    data.setup("test")
    x, hurst = data.splits["test"].tensors
    fields, hurst = x[:, 0].double(), hurst.double()
    hurst_range = data.hparams.hurst_range
    rows = []
    for label, estimate in (("exact MLE (Whittle)", hurst_mle(fields, hurst_range)),
                            ("posterior median (exact, MAE-optimal)", hurst_posterior_median(fields, hurst_range)),
                            ("variogram fit", variogram_hurst(fields))):
        rows.append({"task": f"Hurst, fields {size}x{size}", "model": label, "params": 0, "metric": "test MAE",
                     "seed": seed, "value": float((estimate - hurst).abs().mean())})
    return rows


def shipped_row(tag: str, data, metric: str, key: str, task: str) -> dict:
    model = fraczoo.load_pretrained(f"spectral_fractional_cnn.{tag}")
    res = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False).test(model, data, verbose=False)[0]
    sha256 = yaml.safe_load((CATALOGUE / "pretrained.yaml").read_text())["tags"][tag]["sha256"]
    return {"task": task, "model": f"shipped .{tag} weights (seed 0 test split)", "params": num_params(model),
            "metric": metric, "mean": res[key], "sd": 0.0, "seeds": 1, "sha256": sha256}


def add_mle_ratios(summary: list[dict], sizes) -> None:
    """Each fields row's mean MAE over the exact MLE's on the same fields (``ratio_to_mle``)."""
    for size in sizes:
        task = f"Hurst, fields {size}x{size}"
        mle = next(r["mean"] for r in summary if r["task"] == task and r["model"].startswith("exact MLE"))
        for r in summary:
            if r["task"] == task:
                r["ratio_to_mle"] = r["mean"] / mle


def run_fields(args) -> dict:
    units = [("fields", size, seed, label) for size in args.sizes for seed in args.seeds
             for label in fields_models(args.fno_modes) if not args.skip_ablation or not label.startswith("ablation")
             if not args.models or any(m in label for m in args.models)]
    rows = run_units(units, args)
    for size in args.sizes:
        for seed in args.seeds:
            rows += estimator_rows(size, seed, args)
    summary = summarise(rows)
    add_mle_ratios(summary, args.sizes)
    if 32 in args.sizes and 0 in args.seeds and not args.quick:
        shipped = shipped_row("fields", fields_data(32, 0, args), "test MAE", "test_mae", "Hurst, fields 32x32")
        # the shipped weights see seed 0's test fields only: their yardstick is the MLE on those fields
        mle0 = next(r["value"] for r in rows if r["task"] == "Hurst, fields 32x32" and r["seed"] == 0
                    and r["model"].startswith("exact MLE"))
        summary.append({**shipped, "ratio_to_mle": shipped["mean"] / mle0, "mle_same_fields": mle0})
    return {"fields_config": config_args("config.yaml", "data"), "rows": rows, "summary": summary}


def run_shipped(args) -> dict:
    """The shipped weights alone (no training): ``.fields`` and ``.fields64`` on the test fields of every
    (size, seed) beside the estimators on the same fields (the fields of every seed's test stream are new
    to the weights, which trained on the separate fresh stream), ``.digits`` on seed 0's test split (the
    split it was made with; other seeds' test digits overlap its training digits)."""
    fields_tags = [name.split(".")[1] for name in fraczoo.list_pretrained()
                   if name.startswith("spectral_fractional_cnn.fields")]  # .fields (32x32), .fields64
    rows = []
    for size in args.sizes:
        for seed in args.seeds:
            data = fields_data(size, seed, args)
            rows += estimator_rows(size, seed, args)
            for tag in fields_tags:
                try:
                    shipped = shipped_row(tag, data, "test MAE", "test_mae", f"Hurst, fields {size}x{size}")
                except ValueError as err:  # a size whose spectrum the weights never saw: refused, not scored
                    print(f"shipped .{tag} at {size}x{size}: {err}")
                    continue
                rows.append({**shipped, "model": f"shipped .{tag} weights", "seed": seed, "value": shipped["mean"]})
    summary = summarise(rows)
    add_mle_ratios(summary, args.sizes)
    if "spectral_fractional_cnn.digits" in fraczoo.list_pretrained():
        data = DigitsDataModule(**{**finetune_args()[1], "seed": 0})
        summary.append(shipped_row("digits", data, "test acc", "test_acc", "digits 16x16"))
    return {"rows": rows, "summary": summary}


def run_digits(args) -> dict:
    units = [("digits", 16, seed, label) for seed in args.seeds for label in digits_models()]
    summary = summarise(rows := run_units(units, args))
    if not args.quick and "spectral_fractional_cnn.digits" in fraczoo.list_pretrained():
        data = DigitsDataModule(**{**finetune_args()[1], "seed": 0})
        summary.append(shipped_row("digits", data, "test acc", "test_acc", "digits 16x16"))
    return {"rows": rows, "summary": summary}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--quick", action="store_true", help="tiny data, 1-2 epochs, seed 0 only (smoke run)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="fields: grid sizes")
    parser.add_argument("--fields-epochs", type=int, default=40, help="fields: epochs for every model (20 left the "
                        "zoo model short of converged at 64x64: benchmarks/compare_baselines_fields_e20.json)")
    parser.add_argument("--digits-epochs", type=int, default=30)
    parser.add_argument("--fields-train-size", type=int, help="fields: new training fields per epoch "
                        "(default: config.yaml's)")
    parser.add_argument("--skip-ablation", action="store_true", help="fields: leave out the ablation runs")
    parser.add_argument("--models", nargs="+", help="fields: train only the models whose label contains one "
                        "of these strings (e.g. ablation)")
    parser.add_argument("--test-size", type=int, default=1024, help="fields: test fields per seed")
    parser.add_argument("--fno-modes", type=int, default=4, help="fields: Fourier modes per axis of the FNO")
    parser.add_argument("--zoo-args", nargs="+", default=[], metavar="KEY=VALUE",
                        help="fields: override config.yaml's model arguments of the zoo model (the baselines are "
                             "matched to its parameter count), e.g. spectrum_bins=16")
    parser.add_argument("--evals", type=int, default=600, help="dynamics: evaluations of loss and gradient per run")
    parser.add_argument("--jobs", type=int, default=1, help="training runs in parallel (processes, 1 thread each)")
    parser.add_argument("--out", help="JSON path (default benchmarks/compare_baselines_<task>.json)")
    args = parser.parse_args(argv)
    ZOO_ARGS.update(parse_overrides(args.zoo_args))
    torch.set_num_threads(1)
    if args.quick:
        args.seeds = args.seeds[:1]
    if args.task == "dynamics":  # one implementation, one JSON: the dynamics script's
        from compare_dynamics import run_dynamics

        write_json("compare_dynamics", run_dynamics(args),
                   out=args.out or ("/tmp/compare_dynamics.json" if args.quick else None))
        return
    result = {"fields": run_fields, "digits": run_digits, "shipped": run_shipped}[args.task](args)
    print_table(f"{args.task}: zoo model vs baselines (test split, mean and sd over seeds {args.seeds})",
                result["summary"])
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "jobs")}
    write_json(f"compare_baselines_{args.task}", {"seeds": args.seeds, "settings": settings, **result},
               out=args.out or (f"/tmp/compare_baselines_{args.task}.json" if args.quick else None))


if __name__ == "__main__":
    run_main(main)
