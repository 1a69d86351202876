"""Simulated fractional dynamics: trajectories of Caputo systems D^alpha y = f(y) with a known order.

Systems (state dimension 2, commensurate order alpha or one order per component):

    "relaxation"      D^a y = -diag(1, 2) y                       (y = E_a(-t^a) y_1, E_a(-2 t^a) y_2)
    "oscillator"      D^a x = v,  D^a v = -omega^2 x - gamma v     (omega = 1.5, gamma = 0.3)
    "lotka_volterra"  D^a x = x (1.1 - 0.4 y),  D^a y = y (0.4 x - 0.4)

Initial states are drawn uniformly (in [-2, 2]^2, or [1, 3]^2 for Lotka-Volterra), trajectories are
solved with ``fodeint`` (product trapezoid, O(h^2), in float64 on a grid ``substeps`` times finer
than the stored one) and observed with optional Gaussian noise. Everything is deterministic from
``seed``; no network.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from fraczoo._checks import check_alpha, check_int, check_real
from fraczoo.datamodules._splits import TensorSplitDataModule

SYSTEMS = ("relaxation", "oscillator", "lotka_volterra")


def vector_field(system: str):
    """The right-hand side f(t, y) of ``system`` (y of shape (..., 2))."""
    if system == "relaxation":
        return lambda t, y: -y * torch.tensor([1.0, 2.0], dtype=y.dtype, device=y.device)
    if system == "oscillator":
        omega, gamma = 1.5, 0.3
        return lambda t, y: torch.stack([y[..., 1], -omega ** 2 * y[..., 0] - gamma * y[..., 1]], dim=-1)
    if system == "lotka_volterra":
        return lambda t, y: torch.stack([y[..., 0] * (1.1 - 0.4 * y[..., 1]),
                                         y[..., 1] * (0.4 * y[..., 0] - 0.4)], dim=-1)
    raise ValueError(f"system must be one of {', '.join(map(repr, SYSTEMS))}; got {system!r}")


def simulate_dynamics(system: str, alpha, y0: Tensor, n_steps: int, t_end: float, *,
                      substeps: int = 4) -> tuple[Tensor, Tensor]:
    """Trajectories of ``system`` from initial states y0 (B, 2): returns t (n_steps+1,), y (B, n_steps+1, 2)."""
    from fraczoo.fode import fodeint

    f = vector_field(system)
    y0 = y0.to(torch.float64)
    fine = torch.linspace(0.0, t_end, n_steps * substeps + 1, dtype=torch.float64)
    a = torch.as_tensor(alpha, dtype=torch.float64)
    y = fodeint(f, y0, fine, a, method="trapezoid")[::substeps]  # (N, B, 2)
    return fine[::substeps], y.transpose(0, 1)


class FractionalDynamicsDataModule(TensorSplitDataModule):
    """Trajectories of a fractional system with known order: batches (t (B, N), y (B, N, 2)).

    The model sees y[:, 0] as the initial state and fits the whole trajectory; ``true_alpha``
    (a (2,) tensor) lets it report how well it recovers the order.
    """

    def __init__(self, system: str = "oscillator", alpha: float | list[float] = 0.8, n_steps: int = 50,
                 t_end: float = 5.0, train_size: int = 256, val_size: int = 64, test_size: int = 64,
                 noise_std: float = 0.01, substeps: int = 4, batch_size: int = 32, seed: int = 0,
                 num_workers: int = 0):
        super().__init__()
        vector_field(system)  # validates the name
        for arg, value, low in (("n_steps", n_steps, 2), ("train_size", train_size, 1), ("val_size", val_size, 1),
                                ("test_size", test_size, 1), ("substeps", substeps, 1),
                                ("batch_size", batch_size, 1), ("seed", seed, 0), ("num_workers", num_workers, 0)):
            check_int(value, arg, low)
        try:
            orders = torch.as_tensor(alpha, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):  # e.g. a string: torch's own message does not say which argument
            orders = None
        if orders is None or orders.ndim > 1 or orders.numel() not in (1, 2):
            raise ValueError(f"alpha must be a number or a list of 2 orders (one per component), got {alpha!r}")
        check_alpha(orders, 0.0, 1.0, name="alpha", lo_open=True)
        check_real(t_end, "t_end", 0.0, lo_open=True)
        check_real(noise_std, "noise_std", 0.0)
        self.save_hyperparameters()
        self.true_alpha = orders.expand(2).float().clone()

    def simulate(self, n: int, stream: int) -> TensorDataset:
        hp = self.hparams
        gen = self.generator(stream)
        lo, hi = (1.0, 3.0) if hp.system == "lotka_volterra" else (-2.0, 2.0)
        y0 = lo + (hi - lo) * torch.rand(n, 2, generator=gen, dtype=torch.float64)
        t, y = simulate_dynamics(hp.system, hp.alpha, y0, hp.n_steps, float(hp.t_end), substeps=hp.substeps)
        y = y + hp.noise_std * torch.randn(y.shape, generator=gen, dtype=torch.float64)
        return TensorDataset(t.float().expand(n, -1).contiguous(), y.float())
