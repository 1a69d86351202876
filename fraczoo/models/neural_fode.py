"""neural_fode: a neural fractional ODE D^alpha y = f_theta(y) with a learnable order alpha.

The vector field f_theta is an MLP (``self.backbone``, autonomous: it ignores t, so the same weights
serve any time grid); alpha in (0, 1) is a ``FractionalOrder`` (one order, or one per state component
with ``per_dim_alpha``). A batch (t (B, N), y (B, N, D)) is fitted by solving from y[:, 0] with
``fraczoo.fode.fodeint`` on the shared grid t[0] and taking the MSE over the whole trajectory.
``gradient`` picks how the solver is differentiated: "direct" (backprop through the time stepping),
"adjoint" (discrete adjoint, memory flat in N) or "deq" (parallel-in-time fixed point + implicit
function theorem; needs an implicit ``method``); ``parallel`` is fodeint's (None: its automatic
choice). Logs val_loss, val_mse and the learned orders (alpha/k); when the datamodule knows the true
order (``true_alpha``) also val_alpha_error.

``optimizer``: "adam" (``lr`` for the vector field, ``alpha_lr`` for the order, ``weight_decay``) or "lbfgs"
(``RootLBFGS``: L-BFGS with a strong-Wolfe line search on the RMSE, up to 20 iterations per optimizer step;
meant for full batches, e.g. ``batch_size = train_size``). The order and the vector field trade off along a
long, flat valley of the loss; Adam crawls along it (the order stays ~0.03 short on the card's relaxation
set-up after 600 steps), L-BFGS follows it (see the model card, "Training recipe").
"""
from __future__ import annotations

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from fraczoo._checks import check_bool, check_choice, check_input, check_int, check_open_interval, check_real
from fraczoo.fode import GRADIENTS, METHODS, fodeint
from fraczoo.models._base import ZooModule
from fraczoo.models._lbfgs import RootLBFGS
from fraczoo.models._registry import register_model
from fraczoo.nn import FractionalOrder

OPTIMIZERS = ("adam", "lbfgs")


class MLPVectorField(nn.Module):
    """f(t, y) = MLP(y): tanh hidden layers; t is accepted (fodeint's convention) and ignored."""

    def __init__(self, state_dim: int, hidden: int, depth: int):
        super().__init__()
        layers, prev = [], state_dim
        for _ in range(depth):
            layers += [nn.Linear(prev, hidden), nn.Tanh()]
            prev = hidden
        layers.append(nn.Linear(prev, state_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)

    def solve_field(self):
        """The same map as ``forward`` for one ``fodeint`` call, which evaluates it once per corrector
        iteration on a small state: the weights are transposed once here instead of at every call
        (``F.linear`` computes addmm(b, h, W^T)), and the layers are not called through
        ``nn.Module.__call__``; fewer tensor operations per call and fewer autograd nodes, same values.
        Its ``linear_readout`` (hidden features, last weight transposed, last bias) lets the corrector
        fold its weight into the last layer (``fraczoo.fode._trapezoid``)."""
        layers = [(m.weight.t(), m.bias) for m in self.net if isinstance(m, nn.Linear)]
        *hidden_layers, (last_weight_t, last_bias) = layers

        def features(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            h = y if y.ndim == 2 else y.reshape(-1, y.shape[-1])  # (batch, state), the usual case
            for weight_t, bias in hidden_layers:
                h = torch.tanh(torch.addmm(bias, h, weight_t))
            return h

        def field(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            out = torch.addmm(last_bias, features(t, y), last_weight_t)
            return out if y.ndim == 2 else out.view(y.shape[:-1] + (out.shape[-1],))

        field.linear_readout = (features, last_weight_t, last_bias)
        return field


@register_model(datamodule="fraczoo.datamodules.fractional_dynamics:FractionalDynamicsDataModule")
class NeuralFODE(ZooModule):
    optimizer_class = torch.optim.Adam

    def __init__(self, state_dim: int = 2, hidden: int = 32, depth: int = 2, alpha_init: float = 0.5,
                 per_dim_alpha: bool = False, learn_alpha: bool = True, method: str = "trapezoid",
                 gradient: str = "direct", lr: float = 1e-2, alpha_lr: float | None = None,
                 weight_decay: float = 0.0, parallel: bool | None = None,
                 optimizer: str = "adam"):
        super().__init__()
        check_choice(gradient, "gradient", GRADIENTS)
        check_choice(method, "method", METHODS)
        if gradient == "deq" and method == "pece":
            raise ValueError("gradient='deq' needs an implicit method ('trapezoid' or 'l1'), got method='pece'")
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        if parallel is not None:
            if not isinstance(parallel, bool):
                raise TypeError(f"parallel must be True, False or None (fodeint's automatic choice), got "
                                f"{type(parallel).__name__} {parallel!r}")
            if parallel and method == "pece":
                raise ValueError("parallel=True needs an implicit method ('trapezoid' or 'l1'), got method='pece'")
            if not parallel and gradient == "deq":
                raise ValueError("gradient='deq' is parallel in time; parallel=False is not available with it")
        check_int(state_dim, "state_dim")
        check_int(hidden, "hidden")
        check_int(depth, "depth")
        check_open_interval(alpha_init, "alpha_init", 0.0, 1.0)
        check_bool(per_dim_alpha, "per_dim_alpha")
        check_bool(learn_alpha, "learn_alpha")
        check_real(lr, "lr", 0.0, lo_open=True)
        if alpha_lr is not None:
            check_real(alpha_lr, "alpha_lr", 0.0, lo_open=True)
        check_real(weight_decay, "weight_decay", 0.0)
        if optimizer == "lbfgs" and weight_decay:
            raise ValueError(f"weight_decay applies to optimizer='adam' only; with 'lbfgs' it must be 0, "
                             f"got {weight_decay!r}")
        self.save_hyperparameters()
        self.backbone = MLPVectorField(state_dim, hidden, depth)
        self.alpha = FractionalOrder(alpha_init, low=0.0, high=1.0, shape=(state_dim,) if per_dim_alpha else (),
                                     learnable=learn_alpha)
        self.init_metrics(mse=torchmetrics.MeanSquaredError())

    def forward(self, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Trajectories (B, N, D) from initial states y0 (B, D) on the uniform grid t (N,)."""
        check_input(y0, "y0", next(self.backbone.parameters()))
        if y0.ndim != 2 or y0.shape[-1] != self.hparams.state_dim:
            raise ValueError(f"y0 must have shape (batch, state_dim={self.hparams.state_dim}), got {tuple(y0.shape)}")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"t must be a torch.Tensor (a uniform time grid of shape (N,)), got {type(t).__name__}")
        options = {"parallel": self.hparams.get("parallel")}
        if self.hparams.gradient != "direct":  # the solve's func is a closure: name its parameters
            options["adjoint_params"] = tuple(p for p in self.backbone.parameters() if p.requires_grad)
        y = fodeint(self.backbone.solve_field(), y0, t.to(y0.dtype), self.alpha().to(y0.dtype),
                    method=self.hparams.method, gradient=self.hparams.gradient, **options)
        return y.transpose(0, 1).contiguous()  # batch first, and contiguous for the metrics' views

    def predict_batch(self, batch):
        t, y = batch
        return self(y[:, 0], t[0])

    def target(self, batch):
        return batch[1]

    def loss(self, pred, target):
        return F.mse_loss(pred, target)

    def on_validation_epoch_end(self):
        alpha = self.alpha().detach().reshape(-1)
        for i, a in enumerate(alpha):
            self.log(f"alpha/{i}", a, sync_dist=True)
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        true_alpha = getattr(datamodule, "true_alpha", None)
        if true_alpha is not None:
            error = (alpha - true_alpha.to(alpha)).abs().max()
            self.log("val_alpha_error", error, prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        if self.hparams.optimizer == "lbfgs":
            # one parameter group (no per-group rates): the line search picks the step length
            return RootLBFGS([p for p in self.parameters() if p.requires_grad], max_iter=20, history_size=50)
        return super().configure_optimizers()

    def param_groups(self):
        groups = [{"params": list(self.backbone.parameters())}]
        alpha_params = [p for p in self.alpha.parameters() if p.requires_grad]
        if alpha_params:
            groups.append({"params": alpha_params, "lr": self.hparams.alpha_lr or self.hparams.lr,
                           "weight_decay": 0.0})
        return groups
