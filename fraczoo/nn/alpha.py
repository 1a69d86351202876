"""Probabilistic fractional orders: alpha is a random variable with a learnable distribution.

A :class:`ProbabilisticOrder` layer holds a distribution q(alpha) on [low, high] and, called on a
signal, applies the spectral fractional derivative (:func:`fraczoo.ops.spectral.spectral_derivative`)
along the last dim with an order drawn from q. Draws are *reparameterised* (alpha = T(params, noise)
with the noise independent of the parameters), so d E_q[loss] / d params is estimated without bias by
back-propagating through the sample (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014;
for the Beta family the implicit reparameterisation of Figurnov, Mohamed & Mnih, NeurIPS 2018).
``kl(prior)`` gives the KL term of a variational (ELBO) objective.

Families:

* :class:`NormalAlphaLayer`: alpha = clamp(mu + sigma * eps, low, high), eps ~ N(0, 1), sigma =
  softplus(raw). Clipping is continuous, so the pathwise gradient stays unbiased (clipped draws
  contribute zero, exactly the derivative of the clipped mass); ``posterior()`` is N(mu, sigma) and
  ``mean``/``std`` are mu and sigma, the parameters before clipping.
* :class:`BetaAlphaLayer`: alpha = low + (high - low) * u, u ~ Beta(a, b): bounded by construction;
  ``mean``/``std`` are the exact moments of alpha.

Both expose ``mean``/``std`` like :class:`~fraczoo.nn.order.FractionalOrder`, so callbacks treat point
and probabilistic orders alike (found by type, see ``fraczoo.callbacks``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.autograd import Function
from torch.autograd.function import once_differentiable
from torch.distributions import AffineTransform, Beta, Distribution, Normal, TransformedDistribution
from torch.distributions import kl_divergence
from torch.nn import functional as F

from fraczoo._checks import check_choice, check_int, check_positive, check_real
from fraczoo.ops.spectral import RIESZ_RANGE, WEYL_RANGE, spectral_derivative

EVAL_MODES = ("mean", "sample")
_KIND_RANGES = {"weyl": WEYL_RANGE, "riesz": RIESZ_RANGE}


def _inverse_softplus(y: float) -> float:
    """raw with softplus(raw) = y (y > 0), stable for small and large y."""
    return y + math.log(-math.expm1(-y))


class ProbabilisticOrder(nn.Module):
    """Base class: a learnable distribution q over the order alpha on [low, high].

    Subclasses implement ``posterior()``, ``sample(sample_shape, generator=)`` (reparameterised:
    differentiable in the parameters), ``mean``, ``std`` and ``point()`` (the order used in eval mode
    with ``eval_mode="mean"``).

    ``forward(x)``: the Weyl (``kind="weyl"``) or Riesz (``kind="riesz"``) derivative of order alpha of
    the periodic signal ``x`` along its last dim (grid spacing ``dx``). Training mode draws one alpha per
    call (``per_sample=True``: one per entry of the leading batch dim, which lowers the variance of
    the gradient estimate); eval mode uses ``point()`` (``eval_mode="mean"``) or averages the output
    over ``num_eval_samples`` draws (``eval_mode="sample"``: the posterior predictive mean, costing
    ``num_eval_samples`` times the memory of one call).

    ``shape`` is the shape of one order, e.g. (C, 1) for one order per channel of a (B, C, N) input;
    its last entry must be 1 because the derivative acts along the last dim. ``mean`` and ``std`` are
    the initial moments of alpha; ``learnable=False`` keeps the distribution fixed (buffers).
    """

    def __init__(self, mean: float = 0.5, std: float = 0.1, *, low: float = 0.0, high: float = 2.0,
                 learnable: bool = True, kind: str = "weyl", eval_mode: str = "mean", num_eval_samples: int = 1,
                 shape: Sequence[int] = (), per_sample: bool = False, dx: float = 1.0):
        super().__init__()
        check_choice(kind, "kind", tuple(_KIND_RANGES))
        check_choice(eval_mode, "eval_mode", EVAL_MODES)
        low, high = check_real(low, "low"), check_real(high, "high")
        lo, hi = _KIND_RANGES[kind]
        if not lo <= low < high <= hi:
            raise ValueError(f"low and high must satisfy {lo:g} <= low < high <= {hi:g} for kind={kind!r}, "
                             f"got low={low:g}, high={high:g}")
        check_int(num_eval_samples, "num_eval_samples")
        shape = tuple(shape)
        for i, size in enumerate(shape):
            check_int(size, f"shape[{i}]")
        if shape and shape[-1] != 1:
            raise ValueError(f"shape must end in 1 (the derivative acts along the last dim of x), got {shape!r}; "
                             "e.g. shape=(C, 1) for one order per channel")
        self.low, self.high, self.kind = low, high, kind
        self.eval_mode, self.num_eval_samples = eval_mode, num_eval_samples
        self.shape, self.per_sample = shape, bool(per_sample)
        self.dx = check_positive(dx, "dx")
        self._init_distribution(check_real(mean, "mean"), check_positive(std, "std"), learnable)

    # --- the distribution (subclasses) ------------------------------------------------------------
    def _init_distribution(self, mean: float, std: float, learnable: bool) -> None:
        """Check ``mean``/``std`` against this family and store its parameters (``_store``)."""
        raise NotImplementedError

    def posterior(self) -> Distribution:
        raise NotImplementedError

    def sample(self, sample_shape: Sequence[int] = (), *, generator: torch.Generator | None = None) -> Tensor:
        """Reparameterised draws of shape ``sample_shape + shape``; gradients flow to the parameters."""
        raise NotImplementedError

    def rsample(self, sample_shape: Sequence[int] = (), *, generator: torch.Generator | None = None) -> Tensor:
        """Alias of :meth:`sample` (every draw here is reparameterised)."""
        return self.sample(sample_shape, generator=generator)

    def point(self) -> Tensor:
        """The order used in eval mode with ``eval_mode="mean"``."""
        raise NotImplementedError

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def std(self) -> Tensor:
        raise NotImplementedError

    def kl(self, prior: Distribution | ProbabilisticOrder) -> Tensor:
        """KL(q || prior) in closed form, elementwise over ``shape`` (sum it for an ELBO).

        ``prior``: a ``torch.distributions`` object over alpha of the same family (e.g.
        ``Normal(0.5, 0.2)`` for :class:`NormalAlphaLayer`, ``BetaAlphaLayer.distribution(a, b, low,
        high)`` for :class:`BetaAlphaLayer`) or another probabilistic order layer.
        """
        if isinstance(prior, ProbabilisticOrder):
            prior = prior.posterior()
        if not isinstance(prior, Distribution):
            raise TypeError(f"prior must be a torch.distributions.Distribution or a ProbabilisticOrder, "
                            f"got {type(prior).__name__}")
        q = self.posterior()
        try:
            return kl_divergence(q, prior)
        except NotImplementedError:
            raise TypeError(f"no closed-form KL between the posterior {type(q).__name__} of "
                            f"{type(self).__name__} and a prior {type(prior).__name__} (with these supports); "
                            "use a prior of the same family") from None

    # --- the layer --------------------------------------------------------------------------------
    def _order_view(self, alpha: Tensor, lead: int, ndim: int) -> Tensor:
        """``alpha`` of shape (lead, *shape) laid out against an input of ``ndim`` dims led by ``lead``."""
        return alpha.reshape((lead,) + (1,) * (ndim - 1 - len(self.shape)) + self.shape)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        per_sample = self.per_sample and self.training
        need = max(len(self.shape), 1) + per_sample  # a batch dim in front of the order's dims
        if x.ndim < need:
            raise ValueError(f"x must have at least {need} dims for an order of shape {self.shape}"
                             f"{' drawn per sample' if per_sample else ''}, got shape {tuple(x.shape)}")
        deriv = lambda inp, alpha: spectral_derivative(inp, alpha, dx=self.dx, kind=self.kind)  # noqa: E731
        if self.training:
            if per_sample:
                return deriv(x, self._order_view(self.sample((x.shape[0],)), x.shape[0], x.ndim))
            return deriv(x, self.sample())
        if self.eval_mode == "mean":
            return deriv(x, self.point())
        draws = self.sample((self.num_eval_samples,))
        # D is linear in x, so averaging outputs = applying the averaged symbol; one batched call.
        return deriv(x.unsqueeze(0), self._order_view(draws, self.num_eval_samples, x.ndim + 1)).mean(0)

    def extra_repr(self) -> str:
        return (f"range=[{self.low:g}, {self.high:g}], kind={self.kind!r}, shape={self.shape}, "
                f"eval_mode={self.eval_mode!r}, per_sample={self.per_sample}")

    def _store(self, name: str, value: Tensor, learnable: bool) -> None:
        if learnable:
            self.register_parameter(name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)


class NormalAlphaLayer(ProbabilisticOrder):
    """alpha ~ N(mean, std) clipped to [low, high]: alpha = clamp(mu + softplus(raw_scale) * eps).

    ``NormalAlphaLayer(0.5, 0.1)(torch.randn(32, 16))`` applies D^alpha (Weyl) along the last dim with
    one alpha drawn per call in training mode and alpha = clamp(mu) in eval mode. ``learnable=False``
    keeps mu and sigma fixed (buffers). See :class:`ProbabilisticOrder` for the remaining arguments.
    """

    def _init_distribution(self, mean: float, std: float, learnable: bool) -> None:
        if not self.low <= mean <= self.high:
            raise ValueError(f"mean must lie in [low, high] = [{self.low:g}, {self.high:g}], got {mean:g}")
        self._store("loc", torch.full(self.shape, mean), learnable)
        self._store("raw_scale", torch.full(self.shape, _inverse_softplus(std)), learnable)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def std(self) -> Tensor:
        return F.softplus(self.raw_scale)

    def posterior(self) -> Normal:
        """N(mu, sigma), the distribution before clipping (what ``kl`` compares with the prior)."""
        return Normal(self.loc, self.std)

    def sample(self, sample_shape: Sequence[int] = (), *, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(tuple(sample_shape) + self.shape, generator=generator, dtype=self.loc.dtype,
                          device=self.loc.device)
        return (self.loc + self.std * eps).clamp(self.low, self.high)

    def point(self) -> Tensor:
        return self.loc.clamp(self.low, self.high)


class _DirichletSample(Function):
    """Reparameterised Dirichlet draw with an optional generator (torch's own has none).

    Backward: implicit reparameterisation, d x / d concentration from torch._dirichlet_grad, as in
    ``torch.distributions.dirichlet._Dirichlet``.
    """

    @staticmethod
    def forward(ctx, concentration, generator):
        x = torch._sample_dirichlet(concentration, generator=generator)
        ctx.save_for_backward(x, concentration)
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, concentration = ctx.saved_tensors
        total = concentration.sum(-1, True).expand_as(concentration)
        grad = torch._dirichlet_grad(x, concentration, total)
        return grad * (grad_output - (x * grad_output).sum(-1, True)), None


class BetaAlphaLayer(ProbabilisticOrder):
    """alpha = low + (high - low) * u, u ~ Beta(a, b); a, b = softplus(raw) learnable.

    Built from the mean and std of alpha (which must satisfy std^2 < (mean - low)(high - mean)): with
    m = (mean - low) / w, v = (std / w)^2, w = high - low, the concentrations are a = m k, b = (1 - m) k,
    k = m (1 - m) / v - 1. ``mean``/``std`` are the exact moments of alpha; eval mode uses the mean.
    """

    def _init_distribution(self, mean: float, std: float, learnable: bool) -> None:
        if not self.low < mean < self.high:
            raise ValueError(f"mean must lie in the open interval ({self.low:g}, {self.high:g}), got {mean:g}")
        width = self.high - self.low
        m, v = (mean - self.low) / width, (std / width) ** 2
        if v >= m * (1 - m):
            limit = width * math.sqrt(m * (1 - m))
            raise ValueError(f"std must be < sqrt((mean - low) * (high - mean)) = {limit:g} for a Beta order "
                             f"with mean={mean:g} on [{self.low:g}, {self.high:g}], got {std:g}")
        k = m * (1 - m) / v - 1
        self._store("raw_concentration1", torch.full(self.shape, _inverse_softplus(m * k)), learnable)
        self._store("raw_concentration0", torch.full(self.shape, _inverse_softplus((1 - m) * k)), learnable)

    @staticmethod
    def distribution(concentration1, concentration0, low: float = 0.0, high: float = 2.0) -> TransformedDistribution:
        """Beta(a, b) scaled to [low, high], e.g. a prior for :meth:`kl`."""
        return TransformedDistribution(Beta(torch.as_tensor(concentration1), torch.as_tensor(concentration0)),
                                       [AffineTransform(float(low), float(high) - float(low))])

    @property
    def concentrations(self) -> tuple[Tensor, Tensor]:
        return F.softplus(self.raw_concentration1), F.softplus(self.raw_concentration0)

    @property
    def mean(self) -> Tensor:
        a, b = self.concentrations
        return self.low + (self.high - self.low) * a / (a + b)

    @property
    def std(self) -> Tensor:
        a, b = self.concentrations
        total = a + b
        return (self.high - self.low) * torch.sqrt(a * b / (total * total * (total + 1)))

    def posterior(self) -> TransformedDistribution:
        a, b = self.concentrations
        return self.distribution(a, b, self.low, self.high)

    def sample(self, sample_shape: Sequence[int] = (), *, generator: torch.Generator | None = None) -> Tensor:
        a, b = self.concentrations
        conc = torch.stack([a, b], -1).expand(tuple(sample_shape) + self.shape + (2,))
        u = _DirichletSample.apply(conc, generator)[..., 0]
        return (self.low + (self.high - self.low) * u).clamp(self.low, self.high)

    def point(self) -> Tensor:
        return self.mean
