"""AlphaPosteriorMonitor: track learned fractional orders and the calibration of predicted orders.

1. Orders inside the model. Every :class:`~fraczoo.nn.order.FractionalOrder` and
   :class:`~fraczoo.nn.alpha.ProbabilisticOrder` (found by type, so user models with fraczoo layers
   work too) is logged as ``alpha/<module name>/mean`` and ``alpha/<module name>/std`` (std is 0 for a
   point order; an order with several entries logs the average over them, and with ``per_element=True``
   also ``alpha/<name>/<i>/mean|std``), every ``log_every_n_steps`` optimizer steps and at the end of
   each training epoch. With a WandbLogger it adds a histogram ``alpha/<name>/samples`` of
   ``histogram_samples`` draws per layer (the point values for a point order) at epoch end. Draws use a
   private generator, so the training run does not depend on whether the monitor is attached.

2. Predicted orders (e.g. a regressor that outputs a Gaussian over the order of each input).
   Protocol: ``validation_step`` returns a dict holding tensors ``"alpha_mean"``, ``"alpha_std"`` and
   ``"alpha_true"`` with one entry per sample (any shape, same number of entries). At the end of the
   validation epoch the triples of *all* ranks are gathered and these are logged through
   ``pl_module.log`` (so a ModelCheckpoint/EarlyStopping can monitor them):
   ``alpha_posterior/coverage90`` (fraction of true orders inside the central 90% interval),
   ``alpha_posterior/nll`` (Gaussian negative log likelihood), ``alpha_posterior/pit_ks`` (KS statistic
   of the PIT values vs Uniform(0, 1)), ``alpha_posterior/count``; see
   :mod:`fraczoo.callbacks.calibration`. With a WandbLogger and matplotlib installed, it also logs
   ``alpha_posterior/reliability`` (reliability curve and PIT histogram image).
   A model whose predictive distribution is not Gaussian (a histogram posterior, say) adds
   ``"alpha_pit"`` (its CDF at the true order) and ``"alpha_log_prob"`` (its log density there): the
   three metrics and the image then come from those, exactly, instead of from a Gaussian with that mean
   and std. Every batch that reports predictions must then report both.

No collective runs for part 1, and part 2 runs the same collectives on every rank whatever its data,
so ranks without orders or without predictions cannot deadlock the others.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from lightning.pytorch.callbacks import Callback

from fraczoo._checks import check_int
from fraczoo.callbacks._common import find_orders, gather_rows, log_to_loggers, wandb_loggers
from fraczoo.callbacks.calibration import (calibration_metrics, figure_to_array, pit_calibration_metrics,
                                           reliability_figure)
from fraczoo.nn.alpha import ProbabilisticOrder

PROTOCOL_KEYS = ("alpha_mean", "alpha_std", "alpha_true")
EXACT_KEYS = ("alpha_pit", "alpha_log_prob")  # optional, for non-Gaussian predictive distributions




class AlphaPosteriorMonitor(Callback):
    """Log fractional orders (mean/std per layer) and the calibration of predicted orders.

    Args:
        log_every_n_steps: also log the orders every this many optimizer steps (0: epoch ends only).
        log_on_epoch_end: log the orders at the end of every training epoch.
        per_element: for orders with several entries (e.g. one per channel), log each entry too.
        histogram_samples: draws per layer for the W&B histogram (0: no histograms).
        calibration: gather ``{"alpha_mean", "alpha_std", "alpha_true"}`` from validation outputs.
        coverage_level: nominal level of the logged coverage (0.9 gives ``coverage90``).
        plot: log the reliability image to W&B (needs matplotlib).
        seed: seed of the private generator used for histogram draws.
    """

    def __init__(self, log_every_n_steps: int = 0, log_on_epoch_end: bool = True, per_element: bool = False,
                 histogram_samples: int = 1000, calibration: bool = True, coverage_level: float = 0.9,
                 plot: bool = True, seed: int = 0):
        self.log_every_n_steps = check_int(log_every_n_steps, "log_every_n_steps", 0)
        self.histogram_samples = check_int(histogram_samples, "histogram_samples", 0)
        if not 0.0 < coverage_level < 1.0:
            raise ValueError(f"coverage_level must lie in (0, 1), got {coverage_level!r}")
        self.log_on_epoch_end, self.per_element = bool(log_on_epoch_end), bool(per_element)
        self.calibration, self.coverage_level, self.plot = bool(calibration), float(coverage_level), bool(plot)
        self.seed = int(seed)
        self.last_metrics: dict[str, float] = {}      # last order statistics logged
        self.last_calibration: dict[str, float] = {}  # last calibration metrics logged
        self._num_histograms = 0
        self._last_step_logged = -1
        self._rows: list[torch.Tensor] = []

    @property
    def state_key(self) -> str:
        return self._generate_state_key(log_every_n_steps=self.log_every_n_steps, seed=self.seed)

    # --- orders -------------------------------------------------------------------------------------
    def order_statistics(self, pl_module) -> dict[str, float]:
        """``{"alpha/<name>/mean": ..., "alpha/<name>/std": ...}`` for every order in ``pl_module``."""
        metrics = {}
        with torch.no_grad():
            for name, order in find_orders(pl_module):
                mean = order.mean.detach().to(torch.float64)
                std = order.std.detach().to(torch.float64).expand_as(mean)
                metrics[f"alpha/{name}/mean"] = float(mean.mean())
                metrics[f"alpha/{name}/std"] = float(std.mean())
                if self.per_element and mean.numel() > 1:
                    for i, (m, s) in enumerate(zip(mean.reshape(-1).tolist(), std.reshape(-1).tolist())):
                        metrics[f"alpha/{name}/{i}/mean"] = m
                        metrics[f"alpha/{name}/{i}/std"] = s
        return metrics

    def _log_orders(self, trainer, pl_module) -> None:
        metrics = self.order_statistics(pl_module)
        if metrics:
            self.last_metrics = metrics
            log_to_loggers(trainer, metrics, trainer.global_step)

    def _log_histograms(self, trainer, pl_module) -> None:
        loggers = wandb_loggers(trainer)
        if not loggers or not self.histogram_samples:
            return
        import wandb

        values = {}
        with torch.no_grad():
            for i, (name, order) in enumerate(find_orders(pl_module)):
                if isinstance(order, ProbabilisticOrder):
                    device = order.mean.device
                    gen = torch.Generator(device=device).manual_seed(self.seed + 1000 * self._num_histograms + i)
                    draws = order.sample((self.histogram_samples,), generator=gen)
                else:
                    draws = order()
                values[f"alpha/{name}/samples"] = wandb.Histogram(draws.detach().reshape(-1).float().cpu().numpy())
        self._num_histograms += 1
        for logger in loggers:
            logger.log_metrics(values, step=trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if self.log_every_n_steps and step % self.log_every_n_steps == 0 and step != self._last_step_logged:
            self._last_step_logged = step  # accumulation: several batches share one optimizer step
            self._log_orders(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.log_on_epoch_end:
            self._log_orders(trainer, pl_module)
            self._log_histograms(trainer, pl_module)

    # --- calibration of predicted orders -----------------------------------------------------------
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._rows = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self.calibration or trainer.sanity_checking or not isinstance(outputs, Mapping):
            return
        if not all(key in outputs for key in PROTOCOL_KEYS):
            return
        cols = [torch.as_tensor(outputs[key]).detach().reshape(-1).to(torch.float64) for key in PROTOCOL_KEYS]
        missing = [key for key in EXACT_KEYS if key not in outputs]
        if 0 < len(missing) < len(EXACT_KEYS):
            raise ValueError(f"validation_step returned {' and '.join(k for k in EXACT_KEYS if k not in missing)} "
                             f"without {' and '.join(missing)}; return both or neither")
        if not missing:
            cols += [torch.as_tensor(outputs[key]).detach().reshape(-1).to(torch.float64) for key in EXACT_KEYS]
        else:  # NaN marks "Gaussian"; a fixed width keeps the gather across ranks the same on every rank
            cols += [torch.full_like(cols[0], math.nan)] * len(EXACT_KEYS)
        if len({c.numel() for c in cols}) != 1:
            raise ValueError(f"validation_step outputs {', '.join(PROTOCOL_KEYS + EXACT_KEYS)} must have the same "
                             f"number of entries, got {[c.numel() for c in cols]}")
        self._rows.append(torch.stack([c.to(pl_module.device) for c in cols], dim=1))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not self.calibration or trainer.sanity_checking:
            return
        width = len(PROTOCOL_KEYS + EXACT_KEYS)
        local = torch.cat(self._rows) if self._rows else torch.zeros((0, width), dtype=torch.float64,
                                                                     device=pl_module.device)
        self._rows = []
        rows = gather_rows(trainer, local)  # every rank calls it, with or without rows
        if rows.shape[0] == 0:
            return
        mean, std, true, pit, log_prob = rows.unbind(1)
        exact = ~torch.isnan(pit)
        if exact.any() and not exact.all():
            raise ValueError(f"some validation batches reported {' and '.join(EXACT_KEYS)} and others did not; "
                             "report them in every batch or in none")
        if exact.all():
            values = pit_calibration_metrics(pit, log_prob, self.coverage_level)
        else:
            pit = None
            values = calibration_metrics(mean, std, true, self.coverage_level)
        metrics = {f"alpha_posterior/{k}": v for k, v in values.items()}
        metrics["alpha_posterior/count"] = float(rows.shape[0])
        self.last_calibration = metrics
        for key, value in metrics.items():
            # identical on every rank already; sync_dist only keeps Lightning's DDP check quiet
            pl_module.log(key, value, on_epoch=True, sync_dist=True)
        if self.plot:
            loggers = wandb_loggers(trainer)
            fig = reliability_figure(mean, std, true, pit=pit) if loggers else None
            if fig is not None:
                image = figure_to_array(fig)
                for logger in loggers:
                    logger.log_image("alpha_posterior/reliability", [image], step=trainer.global_step)

    # --- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"last_metrics": dict(self.last_metrics), "last_calibration": dict(self.last_calibration),
                "num_histograms": self._num_histograms, "last_step_logged": self._last_step_logged}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_metrics = dict(state_dict.get("last_metrics", {}))
        self.last_calibration = dict(state_dict.get("last_calibration", {}))
        self._num_histograms = int(state_dict.get("num_histograms", 0))
        self._last_step_logged = int(state_dict.get("last_step_logged", -1))
