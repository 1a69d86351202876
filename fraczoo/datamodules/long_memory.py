"""Long-memory time series simulated exactly: fractional Gaussian noise and ARFIMA(0, d, 0).

Both are stationary Gaussian processes with closed-form autocovariances:

* fGn with Hurst exponent H (Mandelbrot & Van Ness 1968), unit variance:
      gamma(k) = (|k+1|^2H - 2|k|^2H + |k-1|^2H) / 2;
* ARFIMA(0, d, 0), (1 - B)^d x_t = eps_t with unit innovation variance, -1/2 < d < 1/2 (Hosking 1981):
      gamma(0) = Gamma(1 - 2d) / Gamma(1 - d)^2,  gamma(k) = gamma(k-1) (k - 1 + d) / (k - d).

A series of length n is drawn exactly by circulant embedding (Davies & Harte 1987; Dietrich & Newsam
1997): the symmetric circulant with first row (gamma(0), ..., gamma(n), gamma(n-1), ..., gamma(1)) has
eigenvalues lam = FFT(row) >= 0 for these processes (Craigmile 2003), and Re FFT(sqrt(lam / 2n) (Z1 + i Z2))
restricted to its first n entries has covariance exactly gamma (Z1, Z2 iid standard normal); cost
O(n log n). ``one_step_mse`` gives the best linear one-step prediction error from the finite past
(Durbin-Levinson), the floor any forecaster of these series can reach (-> 1 for ARFIMA as n grows).
"""
from __future__ import annotations


import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from fraczoo._checks import check_choice, check_int, check_pair
from fraczoo.datamodules._splits import TensorSplitDataModule

PROCESSES = ("arfima", "fgn")


def fgn_autocovariance(hurst: Tensor, n: int) -> Tensor:
    """gamma(0..n-1) of unit-variance fGn, float64, shape (*hurst.shape, n); 0 < H < 1."""
    hurst = _check_param(hurst, "hurst", 0.0, 1.0)
    k = torch.arange(n, dtype=torch.float64)
    two_h = 2 * hurst[..., None]
    return 0.5 * ((k + 1) ** two_h - 2 * k ** two_h + (k - 1).abs() ** two_h)


def arfima_autocovariance(d: Tensor, n: int) -> Tensor:
    """gamma(0..n-1) of ARFIMA(0, d, 0) with unit innovation variance, float64, (*d.shape, n); |d| < 1/2."""
    d = _check_param(d, "d", -0.5, 0.5)[..., None]
    k = torch.arange(1, n, dtype=torch.float64)
    gamma0 = torch.exp(torch.lgamma(1 - 2 * d) - 2 * torch.lgamma(1 - d))
    return gamma0 * torch.cat([torch.ones_like(d), torch.cumprod((k - 1 + d) / (k - d), -1)], -1)


def circulant_sample(acvf: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One exact Gaussian series per row of ``acvf`` (shape (B, n), gamma(0..n-1)) -> (B, n) float64.

    Davies-Harte: embeds gamma in a circulant of size 2(n-1) (needs n >= 2); raises ValueError when the
    embedding is not non-negative definite (not the case for fGn or ARFIMA(0, d, 0)).
    """
    if acvf.ndim != 2 or acvf.shape[-1] < 2:
        raise ValueError(f"acvf must have shape (batch, n) with n >= 2, got {tuple(acvf.shape)}")
    acvf = acvf.to(torch.float64)
    row = torch.cat([acvf, acvf[:, 1:-1].flip(-1)], -1)              # size m = 2(n-1)
    m = row.shape[-1]
    lam = torch.fft.fft(row).real
    if bool((lam < -1e-9 * lam.abs().amax(-1, keepdim=True)).any()):
        raise ValueError("the circulant embedding of acvf has negative eigenvalues; it is not a valid "
                         "Davies-Harte autocovariance")
    z = torch.randn(acvf.shape[0], m, 2, generator=generator, dtype=torch.float64)
    spectrum = torch.sqrt(lam.clamp(min=0) / m) * torch.complex(z[..., 0], z[..., 1])
    return torch.fft.fft(spectrum).real[:, :acvf.shape[-1]]


def fractional_gaussian_noise(hurst: Tensor, length: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Exact unit-variance fGn, one series per entry of the 1-D ``hurst`` -> (B, length) float64."""
    check_int(length, "length", 2)
    return circulant_sample(fgn_autocovariance(_as_1d(hurst, "hurst"), length), generator)


def arfima(d: Tensor, length: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Exact stationary ARFIMA(0, d, 0), unit innovations, one series per entry of the 1-D ``d``."""
    check_int(length, "length", 2)
    return circulant_sample(arfima_autocovariance(_as_1d(d, "d"), length), generator)


def _durbin_levinson(acvf: Tensor):
    """Yields (t, phi_t, v_t), t = 1..n-1: x_hat_t = sum_j phi_t[..., j] x_{t-1-j} is the best linear forecast
    of x_t from x_0..x_{t-1} and v_t its MSE (Brockwell & Davis 1991, sec. 5.2); acvf (..., n) float64."""
    n = acvf.shape[-1]
    phi = acvf.new_zeros(*acvf.shape[:-1], 0)
    v = acvf[..., 0]
    for t in range(1, n):
        kappa = (acvf[..., t] - (phi * acvf[..., 1:t].flip(-1)).sum(-1)) / v
        phi = torch.cat([phi - kappa[..., None] * phi.flip(-1), kappa[..., None]], -1)
        v = v * (1 - kappa ** 2)
        yield t, phi, v


def one_step_mse(acvf: Tensor) -> Tensor:
    """Best linear one-step prediction MSE v_t of x_t from x_0..x_{t-1}, t = 0..n-1 (v_0 = gamma(0)),
    by the Durbin-Levinson recursion (Brockwell & Davis 1991, sec. 5.2); acvf (..., n) -> (..., n)."""
    acvf = acvf.to(torch.float64)
    return torch.stack([acvf[..., 0]] + [v for _, _, v in _durbin_levinson(acvf)], -1)


def best_linear_forecast(series: Tensor, acvf: Tensor) -> Tensor:
    """The forecasts behind ``one_step_mse``: x_hat_t from x_0..x_{t-1} for every t (x_hat_0 = 0, the mean),
    series and acvf (..., n) (broadcasting) -> (..., n) float64. O(n^2) per series."""
    series, acvf = series.to(torch.float64), acvf.to(torch.float64)
    out = [torch.zeros_like(series[..., 0])]
    for t, phi, _ in _durbin_levinson(acvf):
        out.append((phi * series[..., :t].flip(-1)).sum(-1))
    return torch.stack(out, -1)


def _as_1d(value, name: str) -> Tensor:
    value = torch.as_tensor(value, dtype=torch.float64)
    if value.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor (one value per series), got shape {tuple(value.shape)}")
    return value


def _check_param(value, name: str, lo: float, hi: float) -> Tensor:
    value = torch.as_tensor(value, dtype=torch.float64)
    if not bool(((value > lo) & (value < hi)).all()):
        raise ValueError(f"{name} must lie in ({lo:g}, {hi:g}), got {value.tolist()}")
    return value


class LongMemoryDataModule(TensorSplitDataModule):
    """Forecast long-memory series one step ahead: batches (x (B, T), next (B, T), param (B,)) with
    x = s[:-1], next = s[1:] of a simulated series s of ``length`` = T + 1 points, and param its d
    (``process="arfima"``, d ~ U(d_range)) or H (``process="fgn"``, H ~ U(hurst_range)).

    Every split is simulated exactly in ``setup`` from ``seed`` (distinct streams per split): the same
    data on every run and rank, no download.
    """

    def __init__(self, process: str = "arfima", length: int = 1024, train_size: int = 2048, val_size: int = 256,
                 test_size: int = 256, d_range: tuple[float, float] = (0.05, 0.45),
                 hurst_range: tuple[float, float] = (0.55, 0.95), batch_size: int = 32, seed: int = 0,
                 num_workers: int = 0):
        super().__init__()
        check_choice(process, "process", PROCESSES)
        for arg, value, low in (("length", length, 3), ("train_size", train_size, 1), ("val_size", val_size, 1),
                                ("test_size", test_size, 1), ("batch_size", batch_size, 1),
                                ("seed", seed, 0), ("num_workers", num_workers, 0)):
            check_int(value, arg, low)
        if not -0.5 < check_pair(d_range, "d_range")[0] <= d_range[1] < 0.5:
            raise ValueError(f"d_range must satisfy -0.5 < low <= high < 0.5, got {tuple(d_range)}")
        if not 0 < check_pair(hurst_range, "hurst_range")[0] <= hurst_range[1] < 1:
            raise ValueError(f"hurst_range must satisfy 0 < low <= high < 1, got {tuple(hurst_range)}")
        self.save_hyperparameters()

    def autocovariance(self, param: Tensor) -> Tensor:
        """gamma(0..length-1) for the given d or H values (float64, (B, length))."""
        n = self.hparams.length
        return arfima_autocovariance(param, n) if self.hparams.process == "arfima" else fgn_autocovariance(param, n)

    def simulate(self, n: int, stream: int) -> TensorDataset:
        gen = self.generator(stream)
        lo, hi = self.hparams.d_range if self.hparams.process == "arfima" else self.hparams.hurst_range
        param = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)
        series = circulant_sample(self.autocovariance(param), gen).float()
        return TensorDataset(series[:, :-1], series[:, 1:], param.float())
