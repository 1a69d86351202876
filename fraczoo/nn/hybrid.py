"""A global fractional operator beside a local convolution, FNO-style, and a log band-energy readout.

:class:`FractionalHybridConv2d` is y = (-Delta)^(alpha_c/2) (W x)_c + (K * x)_c: a 1x1 channel mix W
followed by one learnable fractional Laplacian per *output* channel (FFT engine,
:func:`fraczoo.ops.fractional_laplacian`), plus a small spatial convolution K (3x3 by default). This is
the Fourier neural operator's layer y = F^-1(R F x) + W x (Li et al., "Fourier neural operator for
parametric PDEs", ICLR 2021) with the dense spectral weights R(k) replaced by the two-parameter-per-channel
power law R_c(k) = |k|^alpha_c W_c, and the 1x1 local path widened to K: the global part sees power laws
across all scales (rough fields), the local part edges and strokes (natural images). Orders are learned
in (0, 2) (:class:`~fraczoo.nn.order.FractionalOrder`); since the orders act after the mix, a one-channel
input already gets one order per output channel.

:class:`LogEnergyPool2d` reads out log mean_p y_c(p)^2 per channel. For a filter y_c = h_c * x of a
stationary Gaussian field this is log sum_k |h_c(k)|^2 I(k), a band energy of the periodogram I; for the
fields of :mod:`fraczoo.datamodules.fractional_fields` the exact profile likelihood of the Hurst exponent
is -M/2 log sum_k |k|^(2H+2) I(k) + const (:mod:`fraczoo.datamodules.hurst_estimators`), i.e. such a log
energy with h_c(k) = |k|^(H+1), so these features carry the likelihood itself.

:class:`LogRadialSpectrum` reads the same statistic off the input without learned filters: the log mean
periodogram in fixed annuli of |k|, a binned version of the Whittle likelihood's sufficient statistic.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from fraczoo._checks import (check_choice, check_image_input, check_int, check_int_list, check_open_interval,
                             check_real, check_tensor)
from fraczoo.nn.order import FractionalOrder
from fraczoo.ops.spectral import PADDINGS, _log_wavenumbers, _parseval_scale, fractional_laplacian


def _check_batch_of_images(x) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a tensor of shape (batch, channels, height, width), got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")


def spread_order(alpha_init: float | Sequence[float], channels: int, *, learnable: bool = True) -> FractionalOrder:
    """A per-channel order in (0, 2) of shape (channels, 1, 1): ``alpha_init`` for every channel, or
    evenly spaced from low to high for a pair (low, high)."""
    if isinstance(alpha_init, Sequence) and not isinstance(alpha_init, str):
        if len(alpha_init) != 2:
            raise ValueError(f"alpha_init must be a number or a pair (low, high), got {alpha_init!r}")
        low, high = (check_open_interval(v, "alpha_init", 0.0, 2.0) for v in alpha_init)
        if low > high:
            raise ValueError(f"alpha_init (low, high) needs low <= high, got {tuple(alpha_init)}")
        order = FractionalOrder(low, low=0.0, high=2.0, shape=(channels, 1, 1), learnable=learnable)
        values = torch.linspace(low, high, channels, dtype=torch.float64) if channels > 1 else \
            torch.tensor([0.5 * (low + high)], dtype=torch.float64)
        with torch.no_grad():
            order.raw.copy_(torch.logit(values / 2.0).reshape(channels, 1, 1))
        return order
    check_open_interval(alpha_init, "alpha_init", 0.0, 2.0)
    return FractionalOrder(alpha_init, low=0.0, high=2.0, shape=(channels, 1, 1), learnable=learnable)


class FractionalHybridConv2d(nn.Module):
    """y_c = (-Delta)^(alpha_c/2) (W x)_c + (K * x)_c + b_c, a learnable order alpha_c in (0, 2) per output
    channel, W a 1x1 mix, K a ``kernel_size`` x ``kernel_size`` convolution with bias b.

    ``padding="periodic"``: the image is a torus for both branches (circular padding for K); ``"zero"``:
    zero padding for both (the fractional part pads to twice the size, see ``fractional_laplacian``).
    ``alpha_init``: one order for every channel, or a pair (low, high): orders spread evenly over the
    output channels, so that from the first step the channels see the spectrum at different slopes.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3,
                 alpha_init: float | Sequence[float] = 0.5, padding: str = "periodic", learn_alpha: bool = True):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 1 (same-size output), got {kernel_size}")
        self.padding = check_choice(padding, "padding", PADDINGS)
        self.alpha = spread_order(alpha_init, out_channels, learnable=learn_alpha)
        # no bias: a constant is the zero mode, which the fractional Laplacian (alpha > 0) removes anyway
        self.mix = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.local = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                               padding_mode="circular" if padding == "periodic" else "zeros")

    def forward(self, x: Tensor) -> Tensor:
        check_image_input(x, self.in_channels, self.local.weight)
        mixed = self.mix(x)
        return fractional_laplacian(mixed, self.alpha(), dims=(-2, -1), padding=self.padding) + self.local(x)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"padding={self.padding!r}")


class LogEnergyPool2d(nn.Module):
    """(B, C, H, W) -> (B, C): log(mean over the H x W pixels of x^2 + eps), per channel (module docstring)."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = check_real(eps, "eps", 0.0, lo_open=True)

    def forward(self, x: Tensor) -> Tensor:
        _check_batch_of_images(x)
        return torch.log(x.square().mean(dim=(-2, -1)) + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"


class LogRadialSpectrum(nn.Module):
    """(B, C, H, W) -> (B, C * bins): per channel, the log mean periodogram log(mean_{k in A_b} |X(k)|^2) in
    ``bins`` annuli A_b of |k| (cycles per sample) with log-spaced edges from ``low`` to sqrt(2)/2 (the
    corner of the grid), centred over the annuli that hold modes at this size; annuli without modes give 0.

    For a stationary Gaussian field with spectrum c |k|^(-2H-2) (:mod:`fraczoo.datamodules.fractional_fields`)
    these are, up to noise that shrinks with the number of modes per annulus, the points of a line of slope
    -(2H+2) in log|k|: a binned form of the Whittle likelihood's sufficient statistic (with them
    spectral_fractional_cnn is 1.05x the exact MLE's error at 32x32, ``scripts/compare_baselines.py
    --task fields``). Centring removes the overall scale c (a rescaled field gives the same features);
    edges in cycles per sample measure the same frequencies at every image size. The zero mode is left
    out; the rfft's interior columns count twice (``_parseval_scale``).
    """

    def __init__(self, bins: int = 16, low: float = 1.0 / 64):
        super().__init__()
        self.bins = check_int(bins, "bins")
        self.low = check_real(low, "low", 0.0, math.sqrt(0.5), lo_open=True, hi_open=True)
        self._layouts: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _layout(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
        """(A, present): A (height * (width // 2 + 1), bins) averages the periodogram over each annulus;
        present (bins,) marks the annuli with at least one mode."""
        key = (height, width, dtype, device)
        if key not in self._layouts:
            logk = _log_wavenumbers((height, width), (1.0, 1.0), torch.float64, device) - math.log(2 * math.pi)
            weight = _parseval_scale((height, width), torch.float64, device).expand_as(logk).clone()
            weight[0, 0] = 0.0  # the mean
            edges = torch.linspace(math.log(self.low), 0.5 * math.log(0.5), self.bins + 1, dtype=torch.float64,
                                   device=device)
            slack = 1e-9  # a mode on an outer edge (|k| = low, the corner) belongs to its annulus
            index = (torch.bucketize(logk.flatten(), edges, right=True) - 1).clamp(0, self.bins - 1)
            inside = (logk.flatten() >= edges[0] - slack) & (weight.flatten() > 0)
            A = torch.zeros(logk.numel(), self.bins, dtype=torch.float64, device=device)
            A[inside.nonzero().squeeze(1), index[inside]] = weight.flatten()[inside]
            total = A.sum(0)
            present = total > 0
            self._layouts[key] = ((A / total.clamp_min(1e-300)).to(dtype), present)
        return self._layouts[key]

    def present(self, x: Tensor) -> Tensor:
        """(bins,) bool on x's device: the annuli that hold at least one mode of an image of x's size."""
        return self._layout(x.shape[-2], x.shape[-1], x.dtype, x.device)[1]

    def forward(self, x: Tensor) -> Tensor:
        _check_batch_of_images(x)
        check_tensor(x, "x")
        A, present = self._layout(x.shape[-2], x.shape[-1], x.dtype, x.device)
        power = torch.fft.rfft2(x).abs().square().flatten(-2)  # (B, C, H * (W // 2 + 1))
        log_energy = torch.log(power @ A + torch.finfo(x.dtype).tiny)
        centred = log_energy - log_energy[..., present].mean(dim=-1, keepdim=True)
        return torch.where(present, centred, torch.zeros_like(centred)).flatten(1)

    def extra_repr(self) -> str:
        return f"bins={self.bins}, low={self.low:g}"


class RunningStandardization(nn.Module):
    """(B, F) -> (B, F): y = (x - m) / sqrt(v + eps), m and v exponential moving averages (weight
    ``momentum``) of the batch means and variances of x over the training batches before the current one
    (the first batch starts them with its own); fixed in eval.

    Unlike BatchNorm, one sample's output does not depend on the other samples of its batch and no
    gradient flows through the statistics: BatchNorm's batch statistics rescale every feature by a
    random factor each step (about 1/sqrt(2 B), 13% at B = 32), a noise that a regression head needing
    a precision of a few percent cannot average out.
    """

    def __init__(self, features: int, *, momentum: float = 0.01, eps: float = 1e-5):
        super().__init__()
        self.features = check_int(features, "features")
        self.momentum = check_real(momentum, "momentum", 0.0, 1.0, lo_open=True, hi_open=False)
        self.eps = check_real(eps, "eps", 0.0, lo_open=True)
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"x must be a tensor of shape (batch, {self.features}), got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        first = self.training and int(self.num_batches_tracked) == 0
        if first:
            self._update(x, 1.0)
        out = (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        if self.training and not first:  # after use: the batch never normalises itself
            self._update(x, self.momentum)
        return out

    @torch.no_grad()
    def _update(self, x: Tensor, weight: float) -> None:
        self.running_mean.lerp_(x.mean(0).to(self.running_mean.dtype), weight)
        self.running_var.lerp_(x.var(0, unbiased=False).to(self.running_var.dtype), weight)
        self.num_batches_tracked += 1

    def extra_repr(self) -> str:
        return f"{self.features}, momentum={self.momentum:g}, eps={self.eps:g}"


class FractionalHybridEncoder(nn.Module):
    """Image -> feature vector: stages [FractionalHybridConv2d -> BatchNorm -> GELU -> 2x2 average pool],
    then the log band energies (:class:`LogEnergyPool2d`) of every stage's block output beside the global
    mean of the last stage, and with ``spectrum_bins`` > 0 the input's :class:`LogRadialSpectrum`,
    standardised: (B, in_channels, H, W) -> (B, ``out_features``),
    ``out_features`` = sum(channels) + channels[-1] + in_channels * spectrum_bins.

    The energies carry the second-order (spectral) statistics that identify a rough field's scaling; the
    mean of the last stage carries the shapes that identify an object. A final
    :class:`RunningStandardization` puts both on one scale for the head (log energies of differently
    ordered channels differ by several units) without BatchNorm's batch noise.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], *, kernel_size: int = 3,
                 alpha_init: float | Sequence[float] = 0.5, padding: str = "periodic", spectrum_bins: int = 0):
        super().__init__()
        check_int(in_channels, "in_channels")
        channels = check_int_list(channels, "channels")
        check_int(spectrum_bins, "spectrum_bins", 0)
        self.blocks, self.stages = nn.ModuleList(), nn.ModuleList()
        prev = in_channels
        for width in channels:
            self.blocks.append(FractionalHybridConv2d(prev, width, kernel_size=kernel_size, alpha_init=alpha_init,
                                                      padding=padding))
            self.stages.append(nn.Sequential(nn.BatchNorm2d(width), nn.GELU(), nn.AvgPool2d(2)))
            prev = width
        self.energy = LogEnergyPool2d()
        self.spectrum = LogRadialSpectrum(spectrum_bins) if spectrum_bins else None
        self.out_features = sum(channels) + prev + in_channels * spectrum_bins
        self.norm = RunningStandardization(self.out_features)

    def forward(self, x: Tensor) -> Tensor:
        _check_batch_of_images(x)
        features = [] if self.spectrum is None else [self._spectrum_seen_in_training(x)]
        for block, stage in zip(self.blocks, self.stages):
            y = block(x)
            features.append(self.energy(y))
            x = stage(y)
        features.append(x.mean(dim=(-2, -1)))
        return self.norm(torch.cat(features, dim=1))

    def _spectrum_seen_in_training(self, x: Tensor) -> Tensor:
        """The input's radial spectrum; outside training, a ValueError if it has modes in an annulus that held
        none at the training size. Such an annulus was 0 in the training batches, so its running variance is
        ~0 (or decayed towards 0 during fine-tuning at a smaller size: ``.digits``, 16x16, keeps 1e-5 from
        ``.fields``' 1) and standardising a nonzero value would blow it up: garbage out, silently
        (``.fields``, trained at 32x32, gave a Hurst MAE of 10 at 64x64). Annuli with data vary within a
        factor of about 20 of each other, so 1e-4 of the largest running variance separates the two.

        The converse, an image smaller than the training images, has no modes in annuli that always held some:
        those features become 0 and the others are centred over fewer annuli. The estimates stay usable but
        worse (``.fields64`` on 32x32 fields: 1.45x the exact MLE's error, against 1.06x at 64x64), so it
        warns."""
        spectrum = self.spectrum(x)
        if self.training or not int(self.norm.num_batches_tracked):
            return spectrum
        var = self.norm.running_var[:spectrum.shape[1]]
        idle = var < 1e-4 * var.max()  # per (channel, annulus), the layout of ``spectrum``'s columns
        present = self.spectrum.present(x).repeat(x.shape[1])

        def described(annuli: Tensor, modes: str) -> str:
            numbers = sorted({int(i) % self.spectrum.bins for i in annuli.nonzero().flatten()})
            return (f"x has {x.shape[-2]}x{x.shape[-1]} pixels, whose radial spectrum has {modes} in annuli {numbers} "
                    f"of {self.spectrum!r}")

        missing = ~idle & ~present
        if bool((idle & present).any()):  # the message names every idle annulus, as it always has
            raise ValueError(described(idle, "modes") + ", which held none in every training image: the model "
                             "never saw these features. Use images of the training size, or train (or fine-tune) at "
                             "this size")
        if bool(missing.any()):
            warnings.warn(described(missing, "no modes") + ", which held modes in the training images (larger ones): "
                          "expect a larger error than at the training size. Use a model trained at this size",
                          UserWarning, stacklevel=2)
        return spectrum
