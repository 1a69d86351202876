"""Calibration of Gaussian predictive distributions N(mu_i, sigma_i^2) against true values y_i.

* coverage(level): fraction of y_i inside the central interval mu_i +- z sigma_i, z = Phi^{-1}((1 + level) / 2)
  (a calibrated model gives ``level``).
* nll: mean of log(2 pi sigma_i^2) / 2 + (y_i - mu_i)^2 / (2 sigma_i^2).
* PIT u_i = Phi((y_i - mu_i) / sigma_i) is Uniform(0, 1) for a calibrated model (Dawid, "Statistical
  theory: the prequential approach", JRSS A 147, 1984; Gneiting, Balabdaoui & Raftery, "Probabilistic
  forecasts, calibration and sharpness", JRSS B 69, 2007). ``pit_ks`` is the Kolmogorov-Smirnov
  statistic sup_u |F_n(u) - u| of the PIT values: max_i max(i/n - u_(i), u_(i) - (i-1)/n).
* reliability curve: observed coverage of the central intervals at nominal levels 0.05 ... 0.95.

Any other predictive distribution F_i (a histogram posterior, say) is judged exactly through its PIT
values u_i = F_i(y_i) and log densities log f_i(y_i) (``pit_calibration_metrics``): y_i lies inside the
central interval [F_i^-1((1 - level) / 2), F_i^-1((1 + level) / 2)] when u_i lies inside
[(1 - level) / 2, (1 + level) / 2], and nll is -mean log f_i(y_i). For a Gaussian both give the same.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import torch
from torch import Tensor

RELIABILITY_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))


def _check(mean: Tensor, std: Tensor, true: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    mean, std, true = (torch.as_tensor(t).reshape(-1).to(torch.float64) for t in (mean, std, true))
    if not mean.shape == std.shape == true.shape:
        raise ValueError(f"alpha_mean, alpha_std and alpha_true must have the same number of entries, got "
                         f"{mean.numel()}, {std.numel()}, {true.numel()}")
    for name, t in (("alpha_mean", mean), ("alpha_std", std), ("alpha_true", true)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf; all values must be finite")
    if mean.numel() and float(std.min()) <= 0:
        raise ValueError(f"alpha_std must be > 0 everywhere, got a minimum of {float(std.min()):g}")
    return mean, std, true


def _z(level: float) -> float:
    return NormalDist().inv_cdf((1.0 + level) / 2.0)


def pit_values(mean: Tensor, std: Tensor, true: Tensor) -> Tensor:
    """u_i = Phi((y_i - mu_i) / sigma_i)."""
    mean, std, true = _check(mean, std, true)
    return torch.special.ndtr((true - mean) / std)


def ks_uniform(u: Tensor) -> float:
    """Kolmogorov-Smirnov statistic of the sample ``u`` against Uniform(0, 1)."""
    u = torch.sort(u.reshape(-1).to(torch.float64)).values
    n = u.numel()
    if n == 0:
        raise ValueError("ks_uniform needs at least one value")
    i = torch.arange(1, n + 1, dtype=torch.float64, device=u.device)
    return float(torch.maximum(i / n - u, u - (i - 1) / n).max())


def coverage(mean: Tensor, std: Tensor, true: Tensor, level: float = 0.9) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    mean, std, true = _check(mean, std, true)
    return float(((true - mean).abs() <= _z(level) * std).to(torch.float64).mean())


def gaussian_nll(mean: Tensor, std: Tensor, true: Tensor) -> float:
    mean, std, true = _check(mean, std, true)
    z = (true - mean) / std
    return float((0.5 * math.log(2 * math.pi) + torch.log(std) + 0.5 * z * z).mean())


def reliability_curve(mean: Tensor, std: Tensor, true: Tensor,
                      levels=RELIABILITY_LEVELS) -> tuple[list[float], list[float]]:
    """(nominal levels, observed coverage of the central intervals at those levels)."""
    return list(levels), [coverage(mean, std, true, level) for level in levels]


def calibration_metrics(mean: Tensor, std: Tensor, true: Tensor, level: float = 0.9) -> dict[str, float]:
    """``{"coverage90", "nll", "pit_ks"}`` (the coverage key is named after ``level``)."""
    mean, std, true = _check(mean, std, true)
    if mean.numel() == 0:
        raise ValueError("calibration needs at least one (alpha_mean, alpha_std, alpha_true) triple")
    return {f"coverage{round(100 * level):d}": coverage(mean, std, true, level),
            "nll": gaussian_nll(mean, std, true),
            "pit_ks": ks_uniform(torch.special.ndtr((true - mean) / std))}


def _check_pit(pit: Tensor, log_prob: Tensor) -> tuple[Tensor, Tensor]:
    pit, log_prob = (torch.as_tensor(t).reshape(-1).to(torch.float64) for t in (pit, log_prob))
    if pit.shape != log_prob.shape:
        raise ValueError(f"alpha_pit and alpha_log_prob must have the same number of entries, got "
                         f"{pit.numel()}, {log_prob.numel()}")
    if pit.numel() == 0:
        raise ValueError("calibration needs at least one (alpha_pit, alpha_log_prob) pair")
    if not torch.isfinite(pit).all() or float(pit.min()) < 0 or float(pit.max()) > 1:
        raise ValueError("alpha_pit must lie in [0, 1] (the predictive CDF at the true value) everywhere")
    if torch.isnan(log_prob).any() or (log_prob == math.inf).any():  # -inf (zero density) gives nll inf
        raise ValueError("alpha_log_prob contains NaN or +inf; it must be a log density (-inf allowed)")
    return pit, log_prob


def pit_coverage(pit: Tensor, level: float = 0.9) -> float:
    """Fraction of PIT values inside [(1 - level) / 2, (1 + level) / 2]: the central interval's coverage."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = (1.0 - level) / 2.0
    return float(((pit >= tail) & (pit <= 1.0 - tail)).to(torch.float64).mean())


def pit_calibration_metrics(pit: Tensor, log_prob: Tensor, level: float = 0.9) -> dict[str, float]:
    """``calibration_metrics`` for any predictive distribution, from u_i = F_i(y_i) and log f_i(y_i)."""
    pit, log_prob = _check_pit(pit, log_prob)
    return {f"coverage{round(100 * level):d}": pit_coverage(pit, level), "nll": float(-log_prob.mean()),
            "pit_ks": ks_uniform(pit)}


def reliability_figure(mean: Tensor, std: Tensor, true: Tensor, *, pit: Tensor | None = None):
    """A matplotlib figure (reliability curve and PIT histogram), or None when matplotlib is missing.
    ``pit``: the predictive CDF at each true value, for a non-Gaussian prediction (``mean``/``std`` unused)."""
    try:  # the object API only: no pyplot, no global backend switch
        from matplotlib.figure import Figure
    except ImportError:
        return None
    pit = pit_values(mean, std, true) if pit is None else torch.as_tensor(pit).reshape(-1).to(torch.float64)
    levels = list(RELIABILITY_LEVELS)
    observed = [pit_coverage(pit, level) for level in levels]  # for a Gaussian: reliability_curve's values
    pit = pit.cpu().numpy()
    fig = Figure(figsize=(8, 3.5))
    ax_rel, ax_pit = fig.subplots(1, 2)
    ax_rel.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax_rel.plot(levels, observed, "o-", label="model")
    ax_rel.set(xlabel="nominal central-interval level", ylabel="observed coverage", xlim=(0, 1), ylim=(0, 1),
               title="alpha posterior reliability")
    ax_rel.legend(loc="upper left")
    ax_pit.hist(pit, bins=10, range=(0, 1), density=True, color="C1", edgecolor="white")
    ax_pit.axhline(1.0, color="k", ls="--", lw=1)
    ax_pit.set(xlabel="PIT value", ylabel="density", xlim=(0, 1), title=f"PIT (n={pit.size})")
    fig.tight_layout()
    return fig


def figure_to_array(fig):
    """RGB uint8 array of a matplotlib figure (rendered with the Agg canvas, no display needed)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
