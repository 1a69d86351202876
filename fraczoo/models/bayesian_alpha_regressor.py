"""bayesian_alpha_regressor: the anomalous-diffusion exponent alpha of one trajectory, with uncertainty.

Task of the AnDi 2020 challenge (Muñoz-Gil et al., Nat. Commun. 12, 6253, 2021), single-trajectory
inference of alpha in (0, 2) from 10..1000 noisy positions in 1, 2 or 3 dimensions. The model outputs a
Gaussian N(mean, std^2) over alpha per trajectory and is trained on its negative log-likelihood.

Inputs are made scale free: displacements d_t = x_{t+1} - x_t are divided by their per-trajectory root
mean square (the challenge multiplies every trajectory by a random N(0, 1) factor). The backbone
(:class:`TrajectoryEncoder`) reads, per step, the normalised displacements and their absolute values
through a WaveNet-style stack of dilated residual convolutions (van den Oord et al. 2016; the 2020
winners used conv + LSTM / WaveNet encoders), pools them over the observed steps (mean and max), and
adds global features: log(T) and the log time-averaged MSD of the normalised trajectory at lags
1, 2, 4, ..., 64 (its slope is the classic MSD estimate of alpha). Every layer re-applies the mask, so
a trajectory's output does not depend on the padding of the batch it is in.

Loss: beta-NLL (Seitzer et al., "On the pitfalls of heteroscedastic uncertainty estimation with
probabilistic neural networks", ICLR 2022), the Gaussian NLL weighted per sample by stop-grad(std^(2 beta));
beta = 0 is the plain NLL. Its per-input optimum is still mean = E[alpha|x], std^2 = Var[alpha|x].
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torchmetrics
from torch import Tensor, nn
from torch.nn import functional as F

from fraczoo._checks import check_bool, check_choice, check_int, check_int_list, check_real
from fraczoo.models._base import ZooModule
from fraczoo.models._registry import register_model

ALPHA_MAX = 2.0
MIN_LENGTH = 10
MSD_LAGS = (1, 2, 4, 8, 16, 32, 64)
_Z90 = 1.6448536269514722  # Phi^{-1}(0.95): the central 90% interval is mean +- z std


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


def gaussian_nll(mean: Tensor, std: Tensor, target: Tensor, beta: float = 0.0) -> Tensor:
    """Per-sample NLL of target under N(mean, std^2), weighted by stop-grad(std^(2 beta)) (beta-NLL)."""
    nll = 0.5 * math.log(2 * math.pi) + torch.log(std) + 0.5 * ((target - mean) / std).square()
    return nll * std.detach() ** (2 * beta) if beta else nll


@register_model(datamodule="fraczoo.datamodules.anomalous_diffusion:AnomalousDiffusionDataModule")
class BayesianAlphaRegressor(ZooModule):
    """Gaussian posterior N(mean, std^2) over the anomalous exponent alpha in (0, 2) of a trajectory.

    dim: 1, 2 or 3 (coordinates per position); width / dilations / kernel_size: the dilated conv
    backbone; hidden: the head's hidden width; std_floor: lower bound of the predicted std; nll_beta:
    the beta of beta-NLL (0 = plain NLL); lr, weight_decay, warmup_steps: AdamW with linear warmup and
    cosine decay over the run; buckets: length groups the backbone splits a batch into (saves padding).
    Logs val_loss (the plain NLL, whatever nll_beta), val_mae and val_coverage90 (the fraction of true
    orders inside the central 90% interval); ``validation_step`` returns the predicted means and stds and the
    true orders, so ``AlphaPosteriorMonitor`` logs their calibration (``alpha_posterior/*``).
    """

    def __init__(self, dim: int = 1, width: int = 32, dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
                 kernel_size: int = 3, hidden: int = 64, std_floor: float = 0.01, nll_beta: float = 0.5,
                 lr: float = 3e-3, weight_decay: float = 1e-4, warmup_steps: int = 100, buckets: int = 4):
        super().__init__()
        check_choice(dim, "dim", (1, 2, 3))
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
        self.save_hyperparameters()
        self.backbone = TrajectoryEncoder(dim, width, tuple(dilations), kernel_size, buckets)
        self.head = nn.Sequential(nn.Linear(self.backbone.out_features, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 2))
        self.init_metrics(mae=torchmetrics.MeanAbsoluteError(), coverage90=torchmetrics.MeanMetric())

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Padded positions x (B, T, dim) and lengths (B,) -> (mean, std) of alpha, each (B,)."""
        raw = self.head(self.backbone(x, lengths))
        mean = ALPHA_MAX * torch.sigmoid(raw[:, 0])
        std = F.softplus(raw[:, 1]) + self.hparams.std_floor
        return mean, std

    def predict_batch(self, batch):
        return self(batch["x"], batch["lengths"])

    def target(self, batch):
        return batch["alpha"]

    def loss(self, pred, target):
        mean, std = pred
        return gaussian_nll(mean, std, target.to(mean.dtype), self.hparams.nll_beta).mean()

    def eval_loss(self, pred, target):
        # the plain NLL whatever nll_beta the training uses, so runs compare
        mean, std = pred
        return gaussian_nll(mean, std, target.to(mean.dtype)).mean()

    def update_metrics(self, metrics, pred, target):
        mean, std = pred
        target = target.to(mean.dtype)
        metrics["mae"].update(mean, target)
        metrics["coverage90"].update(((target - mean).abs() <= _Z90 * std).to(mean.dtype))

    def train_logs(self, pred, target):
        return {"train_mae": (pred[0] - target.to(pred[0].dtype)).abs().mean().detach()}

    def validation_outputs(self, pred, target):
        # AlphaPosteriorMonitor's calibration protocol: one predicted Gaussian and true order per trajectory
        mean, std = pred
        return {"alpha_mean": mean.detach(), "alpha_std": std.detach(), "alpha_true": target.to(mean.dtype)}

    @torch.no_grad()
    def predict_alpha(self, trajectories, lengths=None, *, batch_size: int = 256,
                      symmetrize: bool = False) -> tuple[Tensor, Tensor]:
        """(mean, std) of alpha for raw trajectories, each of shape (B,), on the model's device.

        trajectories: a list of (T_i, dim) arrays/tensors of positions (T_i >= 10), or a padded tensor /
        array (B, T, dim) with ``lengths`` (B,) (all of T when omitted). Runs in eval mode without
        gradients, ``batch_size`` trajectories at a time; restores the training flag afterwards.

        symmetrize: also predict on the trajectory's mirror images and axis rotations (x -> -x in 1D, the
        8 symmetries of the square in 2D, sign flips times cyclic axis shifts, 24, in 3D), which leave
        every AnDi model's law unchanged, and return the equal-weight mixture of those Gaussians:
        mean = average of the means, variance = average variance + variance of the means. Costs 2x, 8x or
        24x the plain prediction; the result is exactly invariant under those symmetries.
        """
        check_int(batch_size, "batch_size")
        check_bool(symmetrize, "symmetrize")
        x, lengths = self._as_batch(trajectories, lengths)
        views = _symmetries(self.hparams.dim, x) if symmetrize else None
        was_training = self.training
        self.eval()
        mean, std = x.new_empty(x.shape[0]), x.new_empty(x.shape[0])
        try:
            # batches of similar length waste little work on padding; results do not depend on the grouping
            for idx in torch.argsort(lengths).split(batch_size):
                span = int(lengths[idx].max())
                chunk = x[idx, :span]
                if views is None:
                    mean[idx], std[idx] = self(chunk, lengths[idx])
                    continue
                means, stds = zip(*(self(chunk[..., axes] * sign, lengths[idx]) for axes, sign in views))
                means, variances = torch.stack(means), torch.stack(stds).square()
                mean[idx] = means.mean(0)
                std[idx] = (variances.mean(0) + means.var(0, unbiased=False)).sqrt()
        finally:
            self.train(was_training)
        return mean, std

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
