"""bayesian_alpha_regressor: the anomalous-diffusion exponent alpha of one trajectory, with uncertainty.

Task of the AnDi 2020 challenge (Muñoz-Gil et al., Nat. Commun. 12, 6253, 2021), single-trajectory
inference of alpha in (0, 2) from 10..1000 noisy positions in 1, 2 or 3 dimensions. The model outputs a
posterior over alpha per trajectory (a ``torch.distributions`` object) and is trained on its negative
log-likelihood: a Gaussian N(mean, std^2) (``posterior="gaussian"``), or a histogram over ``bins`` bins of
(0, 2] (``posterior="histogram"``), which can be skewed or bimodal where a trajectory fits two models
(an ATTM at small alpha looks like a Brownian fBm). The point estimate is the posterior median, which
minimises the expected absolute error (the challenge's metric); for a Gaussian it is the mean.

Inputs are made scale free: displacements d_t = x_{t+1} - x_t are divided by their per-trajectory root
mean square (the challenge multiplies every trajectory by a random N(0, 1) factor). The backbone
(:class:`TrajectoryEncoder`) reads, per step, the normalised displacements and their absolute values
through a WaveNet-style stack of dilated residual convolutions (van den Oord et al. 2016; the 2020
winners used conv + LSTM / WaveNet encoders), pools them over the observed steps (mean and max), and
adds global features: log(T) and the log time-averaged MSD of the normalised trajectory at lags
1, 2, 4, ..., 64 (its slope is the classic MSD estimate of alpha). Every layer re-applies the mask, so
a trajectory's output does not depend on the padding of the batch it is in.

Loss (Gaussian): beta-NLL (Seitzer et al., "On the pitfalls of heteroscedastic uncertainty estimation with
probabilistic neural networks", ICLR 2022), the Gaussian NLL weighted per sample by stop-grad(std^(2 beta));
beta = 0 is the plain NLL. Its per-input optimum is still mean = E[alpha|x], std^2 = Var[alpha|x].
Loss (histogram): the cross-entropy of the bin holding the true alpha, whose optimum is the bin
probabilities P(alpha in bin | x).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torchmetrics
from torch import Tensor, nn
from torch.distributions import Distribution, Normal, constraints
from torch.nn import functional as F

from fraczoo._checks import check_bool, check_choice, check_int, check_int_list, check_real
from fraczoo.models._base import ZooModule
from fraczoo.models._registry import register_model

ALPHA_MAX = 2.0
MIN_LENGTH = 10
MSD_LAGS = (1, 2, 4, 8, 16, 32, 64)
POSTERIORS = ("gaussian", "histogram")


def _masked_rms(d: Tensor, mask: Tensor) -> Tensor:
    """Root mean square of the displacements d (B, T, D) over observed steps and coordinates -> (B,)."""
    count = mask.sum(1).clamp(min=1) * d.shape[-1]
    ms = (d.square().sum(-1) * mask).sum(1) / count
    # a trajectory that never moves has no scale; dividing by 1 leaves its zeros as they are
    return torch.where(ms > 0, ms, torch.ones_like(ms)).sqrt()


def normalized_increments(x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Positions x (B, T, D), lengths (B,) -> (displacements / their RMS (B, T-1, D), step mask (B, T-1),
    positions / RMS with x_0 at the origin (B, T, D)), all zero beyond each trajectory's end."""
    steps = torch.arange(x.shape[1] - 1, device=x.device)
    step_mask = steps[None, :] < (lengths[:, None] - 1)
    d = (x[:, 1:] - x[:, :-1]) * step_mask[..., None]
    rms = _masked_rms(d, step_mask)[:, None, None]
    pos_mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    pos = (x - x[:, :1]) / rms * pos_mask[..., None]
    return d / rms, step_mask, pos


def log_msd_features(pos: Tensor, lengths: Tensor, lags: Sequence[int] = MSD_LAGS) -> Tensor:
    """Time-averaged MSD of normalised positions at each lag: (B, 2 * len(lags)) = [log MSD, valid flag].

    A lag needs at least two pairs (lag <= T - 2); otherwise its log MSD and flag are 0.
    """
    feats, flags = [], []
    for lag in lags:
        if lag >= pos.shape[1]:
            feats.append(pos.new_zeros(pos.shape[0]))
            flags.append(pos.new_zeros(pos.shape[0]))
            continue
        pairs = torch.arange(pos.shape[1] - lag, device=pos.device)[None, :] < (lengths[:, None] - lag)
        sq = (pos[:, lag:] - pos[:, :-lag]).square().sum(-1) * pairs
        count = pairs.sum(1)
        valid = count >= 2
        msd = sq.sum(1) / count.clamp(min=1) / pos.shape[-1]
        feats.append(torch.where(valid, torch.log(msd + 1e-6), torch.zeros_like(msd)))
        flags.append(valid.to(pos.dtype))
    return torch.cat([torch.stack(feats, 1), torch.stack(flags, 1)], 1)


def _symmetries(dim: int, like: Tensor) -> list[tuple[list[int], Tensor]]:
    """(axis order, signs) of the isometries fixing the origin that ``predict_alpha(symmetrize=True)``
    averages over: every sign pattern times every cyclic shift of the axes (the full symmetry group of
    the square for dim 2)."""
    signs = torch.cartesian_prod(*[like.new_tensor([1.0, -1.0])] * dim).reshape(-1, dim)
    shifts = [[(i + k) % dim for i in range(dim)] for k in range(dim)]
    return [(axes, sign) for axes in shifts for sign in signs]


def histogram_centres(bins: int) -> Tensor:
    """The (bins,) bin centres alpha = ALPHA_MAX (k + 1) / bins, k = 0..bins-1: the organisers' 0.05 grid
    for bins = 40."""
    return torch.arange(1, bins + 1, dtype=torch.float64) * (ALPHA_MAX / bins)


def histogram_edges(bins: int) -> Tensor:
    """Bin edges (bins + 1,) on [0, ALPHA_MAX] around the ``histogram_centres``: the inner edges are the
    midpoints between centres, so the first bin is 1.5 widths wide and the last half a width."""
    centres = histogram_centres(bins)
    return torch.cat([centres.new_zeros(1), (centres[:-1] + centres[1:]) / 2, centres.new_full((1,), ALPHA_MAX)])


class AlphaHistogram(Distribution):
    """Piecewise-uniform density: mass ``probs[..., k]`` spread evenly over [edges[k], edges[k+1]].

    probs (..., K) sums to one over its last axis; edges (K + 1,) increasing. Gives mean, variance, cdf,
    icdf (quantiles, so the median is ``icdf(0.5)``) and log_prob (log of the density) in closed form.
    """

    arg_constraints: dict = {}

    def __init__(self, probs: Tensor, edges: Tensor, validate_args=None):
        self.probs, self.edges = probs, edges.to(probs)
        self.widths = self.edges[1:] - self.edges[:-1]
        self._cum = F.pad(probs.cumsum(-1), (1, 0)).clamp(max=1.0)  # (..., K + 1): P(alpha < edges[k])
        super().__init__(probs.shape[:-1], validate_args=False)

    @constraints.dependent_property
    def support(self):
        return constraints.interval(float(self.edges[0]), float(self.edges[-1]))

    @property
    def mean(self) -> Tensor:
        return (self.probs * (self.edges[1:] + self.edges[:-1]) / 2).sum(-1)

    @property
    def variance(self) -> Tensor:
        mids = (self.edges[1:] + self.edges[:-1]) / 2
        second = (self.probs * (mids.square() + self.widths.square() / 12)).sum(-1)
        return (second - self.mean.square()).clamp(min=0)

    def _broadcast(self, value) -> tuple[Tensor, Tensor, Tensor]:
        # value broadcasts against the batch shape, as for every torch distribution
        value = torch.as_tensor(value).to(self.probs)
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        return value.expand(shape), self.probs.expand(*shape, -1), self._cum.expand(*shape, -1)

    def bin_index(self, value: Tensor) -> Tensor:
        """Index of the bin holding each value (values beyond the ends go to the end bins)."""
        return (torch.searchsorted(self.edges, value.contiguous(), right=True) - 1).clamp(0, len(self.widths) - 1)

    def cdf(self, value: Tensor) -> Tensor:
        value, probs, cum = self._broadcast(value)
        k = self.bin_index(value)
        inside = ((value - self.edges[k]) / self.widths[k]).clamp(0, 1)
        return cum.gather(-1, k[..., None])[..., 0] + probs.gather(-1, k[..., None])[..., 0] * inside

    def icdf(self, value: Tensor) -> Tensor:
        value, probs, cum = self._broadcast(value)
        # the first bin whose upper cumulative probability reaches the level
        k = torch.searchsorted(cum[..., 1:].contiguous(), value[..., None].contiguous())[..., 0]
        k = k.clamp(max=len(self.widths) - 1)
        below, p = cum.gather(-1, k[..., None])[..., 0], probs.gather(-1, k[..., None])[..., 0]
        return self.edges[k] + self.widths[k] * ((value - below) / p.clamp(min=1e-12)).clamp(0, 1)

    def grid_median(self, centres: Tensor) -> Tensor:
        """The median of the bin probabilities read as point masses at ``centres`` (K,): the centre of the
        first bin whose cumulative probability reaches 1/2. Where alpha takes only the centres' values (the
        AnDi sets: the 0.05 grid) it is the estimate of least expected absolute error; ``icdf(0.5)`` spreads
        each bin's mass over the bin, and its median falls between grid values."""
        k = torch.searchsorted(self._cum[..., 1:].contiguous(), torch.full_like(self._cum[..., :1], 0.5))[..., 0]
        return centres.to(self.probs)[k.clamp(max=len(self.widths) - 1)]

    def log_prob(self, value: Tensor) -> Tensor:
        value, probs, _ = self._broadcast(value)
        k = self.bin_index(value)
        density = probs.gather(-1, k[..., None])[..., 0] / self.widths[k]
        outside = (value < self.edges[0]) | (value > self.edges[-1])
        return torch.where(outside, torch.full_like(density, -math.inf), density.log())


class _ResidualBlock(nn.Module):
    """x + W2 gelu(dilated conv(x)), re-masked so padding stays zero."""

    def __init__(self, width: int, dilation: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.mix = nn.Conv1d(width, width, 1)
        nn.init.zeros_(self.mix.bias)
        self.mix.weight.data.mul_(0.5)  # keeps the residual stream's variance growing slowly with depth

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        return (h + self.mix(F.gelu(self.conv(h)))) * mask


class TrajectoryEncoder(nn.Module):
    """Variable-length trajectory -> feature vector. forward(x (B, T, D), lengths (B,)) -> (B, out_features).

    To save work on padding, the batch is processed in ``buckets`` groups of similar length, each cut to
    its own longest trajectory (exact: outputs do not depend on padding).
    """

    def __init__(self, dim: int, width: int = 32, dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
                 kernel_size: int = 3, buckets: int = 4):
        super().__init__()
        self.dim, self.buckets = dim, buckets
        self.stem = nn.Conv1d(2 * dim, width, kernel_size, padding=(kernel_size - 1) // 2)
        self.blocks = nn.ModuleList(_ResidualBlock(width, d, kernel_size) for d in dilations)
        self.out_features = 2 * width + 2 * len(MSD_LAGS) + 1

    def _encode(self, x: Tensor, lengths: Tensor) -> Tensor:
        d, step_mask, pos = normalized_increments(x, lengths)
        mask = step_mask[:, None, :].to(d.dtype)
        h = self.stem(torch.cat([d, d.abs()], -1).transpose(1, 2)) * mask
        for block in self.blocks:
            h = block(h, mask)
        count = mask.sum(-1).clamp(min=1)
        mean = h.sum(-1) / count
        peak = h.masked_fill(mask == 0, float("-inf")).amax(-1)
        log_len = torch.log(lengths.to(d.dtype))[:, None] - math.log(100.0)
        return torch.cat([mean, peak, log_msd_features(pos, lengths), log_len], 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if self.buckets <= 1 or x.shape[0] < 2 * self.buckets:
            return self._encode(x[:, : int(lengths.max())], lengths)
        order = torch.argsort(lengths)
        out = x.new_empty(x.shape[0], self.out_features)
        for idx in torch.tensor_split(order, self.buckets):
            span = int(lengths[idx].max())
            out[idx] = self._encode(x[idx, :span], lengths[idx])
        return out


def _head(features: int, hidden: int, outputs: int) -> nn.Sequential:
    """The MLP from pooled features to the posterior's parameters (2 for a Gaussian, one logit per bin)."""
    return nn.Sequential(nn.Linear(features, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                         nn.Linear(hidden, outputs))


def posterior_summary(posterior: Distribution, alpha_on_grid: bool = False) -> tuple[Tensor, Tensor]:
    """(estimate, std) of a posterior over alpha, what ``predict_alpha`` returns: the median (the point of
    least expected absolute error, the challenge's metric) and the standard deviation. alpha_on_grid (an
    ``AlphaHistogram`` only): the median of the bin probabilities as point masses at the bin centres
    (``AlphaHistogram.grid_median``), for orders that lie on the centres."""
    if alpha_on_grid:
        if not isinstance(posterior, AlphaHistogram):
            raise TypeError(f"alpha_on_grid=True needs an AlphaHistogram posterior, got {type(posterior).__name__}")
        bins = len(posterior.widths)
        # the grid centres are not the bins' midpoints (the end bins are uneven), so they can only be read
        # off bins laid out by histogram_edges; refuse others rather than return values off their grid
        if not torch.allclose(posterior.edges, histogram_edges(bins).to(posterior.edges)):
            raise ValueError(f"alpha_on_grid=True needs an AlphaHistogram with edges histogram_edges({bins}), "
                             f"got edges {posterior.edges.tolist()}")
        return posterior.grid_median(histogram_centres(bins)), posterior.stddev
    return posterior.icdf(torch.full_like(posterior.mean, 0.5)), posterior.stddev


def central_interval(posterior: Distribution, level: float = 0.9) -> tuple[Tensor, Tensor]:
    """(lower, upper): the posterior's (1 - level) / 2 and (1 + level) / 2 quantiles, each of its batch shape."""
    tail = (1.0 - level) / 2
    return (posterior.icdf(torch.full_like(posterior.mean, tail)),
            posterior.icdf(torch.full_like(posterior.mean, 1.0 - tail)))


def gaussian_nll(mean: Tensor, std: Tensor, target: Tensor, beta: float = 0.0) -> Tensor:
    """Per-sample NLL of target under N(mean, std^2), weighted by stop-grad(std^(2 beta)) (beta-NLL)."""
    nll = 0.5 * math.log(2 * math.pi) + torch.log(std) + 0.5 * ((target - mean) / std).square()
    return nll * std.detach() ** (2 * beta) if beta else nll


@register_model(datamodule="fraczoo.datamodules.anomalous_diffusion:AnomalousDiffusionDataModule")
class BayesianAlphaRegressor(ZooModule):
    """Posterior over the anomalous exponent alpha in (0, 2) of a trajectory: Gaussian or histogram.

    dim: 1, 2 or 3 (coordinates per position); width / dilations / kernel_size: the dilated conv
    backbone; hidden: the head's hidden width; posterior: "gaussian" (N(mean, std^2)) or "histogram"
    (``AlphaHistogram`` over ``bins`` bins centred on 2 k / bins); std_floor: lower bound of the Gaussian's
    std; nll_beta: the beta of the Gaussian's beta-NLL (0 = plain NLL); lr, weight_decay, warmup_steps:
    AdamW with linear warmup and cosine decay over the run; buckets: length groups the backbone splits a
    batch into (saves padding); short_max_length: if given, trajectories of at most that many positions go
    to a second network of their own (``short_backbone`` of ``short_width`` channels and ``short_dilations``,
    and ``short_head``), a length expert: the AnDi 2020 winners trained separate networks per length range,
    and a network that sees only short trajectories can see far more of them for the same compute.
    alpha_on_grid (histogram only): the orders the model is trained and used on lie on the bin centres (the
    organisers' 0.05 grid for bins = 40, as in every AnDi set and ``balance="challenge"``); the point estimate
    is then the median of the bin probabilities as point masses at the centres, a grid value, instead of
    the median of the piecewise-uniform density (std and intervals are unchanged). Leave it False for
    orders that vary continuously.
    Logs val_loss (the plain negative log density of the true alpha, whatever
    the training loss), val_mae (of the point estimate) and val_coverage90 (the fraction of true orders
    inside the central 90% interval); ``validation_step`` returns the posterior means and stds and the
    true orders, so ``AlphaPosteriorMonitor`` logs their calibration (``alpha_posterior/*``).
    """

    def __init__(self, dim: int = 1, width: int = 32, dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
                 kernel_size: int = 3, hidden: int = 64, std_floor: float = 0.01, nll_beta: float = 0.5,
                 lr: float = 3e-3, weight_decay: float = 1e-4, warmup_steps: int = 100, buckets: int = 4,
                 posterior: str = "gaussian", bins: int = 40, short_max_length: int | None = None,
                 short_width: int = 64, short_dilations: Sequence[int] = (1, 2, 4, 8, 16, 32),
                 alpha_on_grid: bool = False):
        super().__init__()
        check_choice(dim, "dim", (1, 2, 3))
        check_choice(posterior, "posterior", POSTERIORS)
        if check_int(bins, "bins") < 2:
            raise ValueError(f"bins must be an int >= 2, got {bins!r}")
        check_int(width, "width")
        check_int_list(dilations, "dilations")
        if check_int(kernel_size, "kernel_size") % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
        check_real(std_floor, "std_floor", 0.0, 1.0, lo_open=True)
        check_real(nll_beta, "nll_beta", 0.0, 1.0, hi_open=False)
        check_real(lr, "lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        check_int(hidden, "hidden")
        check_int(warmup_steps, "warmup_steps", minimum=0)
        check_int(buckets, "buckets")
        if short_max_length is not None:
            check_int(short_max_length, "short_max_length", MIN_LENGTH)
        check_int(short_width, "short_width")
        check_int_list(short_dilations, "short_dilations")
        if check_bool(alpha_on_grid, "alpha_on_grid") and posterior != "histogram":
            raise ValueError("alpha_on_grid=True needs posterior='histogram' (the grid is its bin centres), "
                             f"got posterior={posterior!r}")
        self.save_hyperparameters()
        self.backbone = TrajectoryEncoder(dim, width, tuple(dilations), kernel_size, buckets)
        outputs = 2 if posterior == "gaussian" else bins
        self.head = _head(self.backbone.out_features, hidden, outputs)
        if short_max_length is not None:
            self.short_backbone = TrajectoryEncoder(dim, short_width, tuple(short_dilations), kernel_size, buckets)
            self.short_head = _head(self.short_backbone.out_features, hidden, outputs)
        self.init_metrics(mae=torchmetrics.MeanAbsoluteError(), coverage90=torchmetrics.MeanMetric())

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Padded positions x (B, T, dim) and lengths (B,) -> (estimate, std) of alpha, each (B,): the
        posterior median (the mean for a Gaussian; with ``alpha_on_grid`` the median bin centre) and
        standard deviation."""
        return self.summary(self._posterior(x, lengths))

    def summary(self, posterior: Distribution) -> tuple[Tensor, Tensor]:
        """(estimate, std) of one of this model's posteriors: ``posterior_summary`` with its ``alpha_on_grid``."""
        return posterior_summary(posterior, self.hparams.alpha_on_grid)

    def _posterior(self, x: Tensor, lengths: Tensor) -> Distribution:
        return self.distribution(self.raw(x, lengths))

    def raw(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The head's output (B, 2 or bins) for padded positions x (B, T, dim) and lengths (B,): each
        trajectory through the length expert (``short_max_length``) or the main network."""
        if self.hparams.short_max_length is None:
            return self.head(self.backbone(x, lengths))
        short = lengths <= self.hparams.short_max_length
        out = x.new_zeros(len(lengths), self.head[-1].out_features)
        for rows, backbone, head in ((short, self.short_backbone, self.short_head), (~short, self.backbone, self.head)):
            idx = rows.nonzero()[:, 0]
            if len(idx):  # the encoder cuts the batch to its longest trajectory itself
                out = out.index_copy(0, idx, head(backbone(x[idx], lengths[idx])))
            elif torch.is_grad_enabled():
                # every parameter takes part in every step, with zero weight here: DDP expects it
                out = out + 0.0 * sum(p.sum() for p in (*backbone.parameters(), *head.parameters()))
        return out

    def distribution(self, raw: Tensor) -> Distribution:
        """The head's output (B, 2 or bins) -> the posterior over alpha, batch shape (B,)."""
        if self.hparams.posterior == "histogram":
            return AlphaHistogram(raw.softmax(-1), histogram_edges(self.hparams.bins))
        return Normal(ALPHA_MAX * torch.sigmoid(raw[:, 0]), F.softplus(raw[:, 1]) + self.hparams.std_floor)

    def predict_batch(self, batch):
        return self.raw(batch["x"], batch["lengths"])

    def predict_step(self, batch, batch_idx):
        return self.summary(self.distribution(self.predict_batch(batch)))

    def target(self, batch):
        return batch["alpha"]

    def loss(self, pred, target):
        post = self.distribution(pred)
        if self.hparams.posterior == "histogram":
            return F.cross_entropy(pred, post.bin_index(target.to(pred.dtype)))
        return gaussian_nll(post.loc, post.scale, target.to(pred.dtype), self.hparams.nll_beta).mean()

    def eval_loss(self, pred, target):
        # the negative log density whatever the training loss, so runs (and posterior kinds) compare
        return -self.distribution(pred).log_prob(target.to(pred.dtype)).mean()

    def update_metrics(self, metrics, pred, target):
        post = self.distribution(pred)
        target = target.to(pred.dtype)
        metrics["mae"].update(self.summary(post)[0], target)
        lower, upper = central_interval(post)
        metrics["coverage90"].update(((target >= lower) & (target <= upper)).to(pred.dtype))

    def train_logs(self, pred, target):
        estimate = self.summary(self.distribution(pred))[0]
        return {"train_mae": (estimate - target.to(pred.dtype)).abs().mean().detach()}

    def validation_outputs(self, pred, target):
        # AlphaPosteriorMonitor's calibration protocol: one posterior mean and std and true order per trajectory
        post = self.distribution(pred)
        target = target.to(pred.dtype)
        out = {"alpha_mean": post.mean.detach(), "alpha_std": post.stddev.detach(), "alpha_true": target}
        if self.hparams.posterior == "histogram":  # judged exactly, not as a Gaussian of that mean and std
            out.update(alpha_pit=post.cdf(target).detach(), alpha_log_prob=post.log_prob(target).detach())
        return out

    def predict_alpha(self, trajectories, lengths=None, *, batch_size: int = 256,
                      symmetrize: bool = False) -> tuple[Tensor, Tensor]:
        """(estimate, std) of alpha for raw trajectories, each of shape (B,), on the model's device: the
        posterior median (for a Gaussian posterior its mean; with ``alpha_on_grid`` the median bin centre)
        and standard deviation of ``predict_posterior`` (same arguments)."""
        return self.summary(self.predict_posterior(trajectories, lengths, batch_size=batch_size,
                                                   symmetrize=symmetrize))

    @torch.no_grad()
    def predict_posterior(self, trajectories, lengths=None, *, batch_size: int = 256,
                          symmetrize: bool = False) -> Distribution:
        """The posterior over alpha of raw trajectories: a ``Normal`` or an ``AlphaHistogram`` of batch shape
        (B,) on the model's device, with mean, stddev, cdf, icdf (``icdf(0.05)``, ``icdf(0.95)``: the
        central 90% interval) and log_prob.

        trajectories: a list of (T_i, dim) arrays/tensors of positions (T_i >= 10), or a padded tensor /
        array (B, T, dim) with ``lengths`` (B,) (all of T when omitted). Runs in eval mode without
        gradients, ``batch_size`` trajectories at a time; restores the training flag afterwards.

        symmetrize: also predict on the trajectory's mirror images and axis rotations (x -> -x in 1D, the
        8 symmetries of the square in 2D, sign flips times cyclic axis shifts, 24, in 3D), which leave
        every AnDi model's law unchanged, and return the equal-weight mixture: for a histogram the mean
        of the bin probabilities (exact); for a Gaussian the Gaussian with the mixture's mean and variance
        (average of the means; average variance + variance of the means). Costs 2x, 8x or 24x the plain
        prediction; the result is exactly invariant under those symmetries.
        """
        check_int(batch_size, "batch_size")
        check_bool(symmetrize, "symmetrize")
        x, lengths = self._as_batch(trajectories, lengths)
        views = _symmetries(self.hparams.dim, x) if symmetrize else None
        was_training = self.training
        self.eval()
        # per trajectory: the histogram's probabilities, or the Gaussian's (mean, variance), view-averaged
        gaussian = self.hparams.posterior == "gaussian"
        out = x.new_empty(x.shape[0], 2 if gaussian else self.hparams.bins)
        try:
            # batches of similar length waste little work on padding; results do not depend on the grouping
            for idx in torch.argsort(lengths).split(batch_size):
                chunk = x[idx, : int(lengths[idx].max())]
                inputs = [chunk] if views is None else [chunk[..., axes] * sign for axes, sign in views]
                posts = [self._posterior(view, lengths[idx]) for view in inputs]
                if gaussian:
                    means, variances = torch.stack([p.loc for p in posts]), torch.stack([p.variance for p in posts])
                    out[idx, 0] = means.mean(0)
                    out[idx, 1] = variances.mean(0) + means.var(0, unbiased=False)
                else:
                    out[idx] = torch.stack([p.probs for p in posts]).mean(0)
        finally:
            self.train(was_training)
        if gaussian:
            return Normal(out[:, 0], out[:, 1].sqrt())
        return AlphaHistogram(out, histogram_edges(self.hparams.bins))

    def _as_batch(self, trajectories, lengths) -> tuple[Tensor, Tensor]:
        dim = self.hparams.dim
        dtype = next(self.parameters()).dtype
        if isinstance(trajectories, (list, tuple)):
            if lengths is not None:
                raise ValueError("lengths is only for a padded (B, T, dim) tensor, not for a list of trajectories")
            if len(trajectories) == 0:
                raise ValueError("trajectories is an empty list; give at least one (T, dim) trajectory")
            items = [self._as_tensor(t, f"trajectories[{i}]") for i, t in enumerate(trajectories)]
            for i, t in enumerate(items):
                if t.ndim == 1 and dim == 1:
                    items[i] = t = t[:, None]
                if t.ndim != 2 or t.shape[1] != dim:
                    raise ValueError(f"trajectories[{i}] must have shape (T, {dim}) for this dim={dim} model, "
                                     f"got {tuple(t.shape)}")
            lengths = torch.tensor([t.shape[0] for t in items], dtype=torch.long, device=self.device)
            x = torch.zeros(len(items), int(lengths.max()), dim, dtype=dtype, device=self.device)
            for i, t in enumerate(items):
                x[i, : t.shape[0]] = t.to(dtype)
        else:
            x = self._as_tensor(trajectories, "trajectories").to(dtype)
            if x.ndim != 3 or x.shape[-1] != dim or x.shape[0] == 0:
                raise ValueError(f"trajectories must be a list of (T, {dim}) trajectories or a padded tensor of "
                                 f"shape (B >= 1, T, {dim}), got shape {tuple(x.shape)}")
            if lengths is None:
                lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=self.device)
            else:
                lengths = torch.as_tensor(lengths, device=self.device)
                if lengths.is_floating_point() or lengths.is_complex() or lengths.shape != (x.shape[0],):
                    raise ValueError(f"lengths must be an integer tensor of shape ({x.shape[0]},), "
                                     f"got {lengths.dtype} of shape {tuple(lengths.shape)}")
                if int(lengths.max()) > x.shape[1]:
                    raise ValueError(f"lengths must be <= the padded length T={x.shape[1]}, got "
                                     f"{int(lengths.max())}")
                lengths = lengths.long()
                # zero the padding so that whatever the caller put there cannot leak into the result
                x = x * (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None])[..., None]
        if int(lengths.min()) < MIN_LENGTH:
            short = int(torch.argmin(lengths))
            raise ValueError(f"every trajectory needs at least {MIN_LENGTH} positions; trajectory {short} has "
                             f"{int(lengths[short])}")
        return x, lengths

    def _as_tensor(self, t, name: str) -> Tensor:
        if isinstance(t, np.ndarray):
            if np.iscomplexobj(t) or not np.issubdtype(t.dtype, np.number):
                raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
            t = torch.from_numpy(np.asarray(t, dtype=np.float64))
        elif not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(t).__name__}")
        if t.is_complex():
            raise TypeError(f"{name} must be real, got {t.dtype}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf; positions must be finite")
        return t.to(self.device)
