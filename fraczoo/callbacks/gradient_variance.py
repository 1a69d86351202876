"""GradientVarianceMonitor: gradient noise statistics and the gradient noise scale B_simple.

Let g_k be the gradient of the mean loss over micro-batch k (b_k samples), k = 1..K over all ranks,
B = sum_k b_k, and g_big = sum_k (b_k / B) g_k the gradient of the whole (global) batch. With
per-sample gradient mean G and covariance Sigma, and independent micro-batches,

    E |g_big|^2             = |G|^2 + tr(Sigma) / B
    E mean_k |g_k|^2        = |G|^2 + tr(Sigma) / b,       1/b = mean_k 1/b_k (harmonic mean size)

so with |G_small|^2 = mean_k |g_k|^2 and |G_big|^2 = |g_big|^2 the unbiased estimates are
(McCandlish, Kaplan, Amodei et al., "An Empirical Model of Large-Batch Training", 2018, App. A.1)

    |G|^2 ~ (B |G_big|^2 - b |G_small|^2) / (B - b),      S = tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1/b - 1/B)

and the simple noise scale is B_simple = EMA(S) / EMA(|G|^2) (each EMA bias-corrected as in Adam,
since a single step's |G|^2 estimate can be negative). Logged every ``every_n_steps`` optimizer steps,
for ``all`` parameters and per group (``grad_var/<group>/...``):

    grad_norm    |g_big|, the global-batch gradient norm (before clipping)
    noise_trace  S, estimate of tr(Sigma), the per-sample gradient noise variance trace
    signal       |G|^2 estimate of this step
    snr          EMA(|G|^2) / (EMA(S) / B): squared signal over the noise variance of the batch gradient
    noise_scale  B_simple (also as ``grad_var/noise_scale`` for ``all``)

plus ``grad_var/batch_size`` (B), ``grad_var/micro_batch_size`` (b), ``grad_var/num_micro_batches`` (K).
A ratio whose denominator estimate is not positive yet is not logged.

How the g_k are obtained: on a monitored step, before Lightning's own step, each rank splits its batch
into ``num_micro_batches`` micro-batches (``None``: single samples, i.e. per-sample gradients) along
dim 0 and runs ``training_step`` + ``torch.autograd.grad`` on each. These are *local* gradients: they
never pass DDP's reducer, so they are the per-rank gradients before any all-reduce. Each rank then
contributes sum_k b_k g_k, sum_k |g_k|^2 (per parameter), K, sum 1/b_k and sum b_k to one sum
all-reduce, and every rank computes the same statistics from the sums (so ranks cannot disagree or
deadlock, whatever modules each holds). The extra pass runs under the precision plugin's autocast with
``self.log`` muted, and restores the RNG state and all module buffers (BatchNorm statistics) afterwards,
so training follows exactly the same trajectory with or without the monitor.

Assumptions: ``training_step`` returns the *mean* loss over its batch (Lightning's convention), the batch
is a tensor or a (nested) list/tuple/dict of tensors with the samples along dim 0, automatic
optimization, and a single-device or DDP-family strategy (sharded strategies such as FSDP are not
supported). Layers that couple samples (BatchNorm) make micro-batch gradients differ from slices of
the full-batch gradient; the statistics then describe the micro-batch training that was measured.

Overhead: a monitored step costs one extra forward/backward over the batch (in K pieces) and one extra
all-reduce of the gradient size; at the default ``every_n_steps=50`` that is about 2-4% of training
time (``scripts/bench_callbacks.py`` measures it).

``mode="ddp_hook"`` (DDP only, at least 2 processes): no extra pass. Under DDP every rank's own gradient
already is a small-batch gradient and the all-reduced one the big-batch gradient, so a DDP communication
hook (``_ddp_hook.py``, registered on the strategy's ``DistributedDataParallel`` module at fit start)
records |g_rank|^2 before and |g_avg|^2 after DDP's own all-reduce; the last gradient bucket's all-reduce
carries the (#parameters + 2) per-rank numbers, so no other collective runs. The small batch is then a
rank's whole batch for the step (b, times ``accumulate_grad_batches``; the harmonic mean over ranks if they
differ), the big batch all ranks' (B = world size x b), K = world size; the same statistics and keys as
above, every step by default (``every_n_steps=1``) at about zero extra cost. The gradients are those DDP
averages: after any loss scaling by ``accumulate_grad_batches``, before clipping; with fp16 AMP the norms
are divided by the grad scaler's scale^2. It cannot be combined with another communication hook (PowerSGD,
fp16 compression) and is not available on single-device or sharded strategies.
"""
from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Mapping

import torch
from lightning.pytorch.callbacks import Callback
from lightning_utilities.core.apply_func import apply_to_collection
from torch import Tensor

from fraczoo._checks import check_choice, check_int
from fraczoo.callbacks._common import ORDER_TYPES, log_to_loggers
from fraczoo.callbacks._ddp_hook import GradientNormHook

GROUP_MODES = ("modules", "optimizer", "none")
MODES = ("micro_batch", "ddp_hook")


def noise_estimates(small_sq: float, big_sq: float, b_small: float, b_big: float) -> tuple[float, float]:
    """(|G|^2, tr Sigma) from |G_small|^2, |G_big|^2 and the two batch sizes (b_small < b_big)."""
    if not b_small < b_big:
        raise ValueError(f"the small batch size must be below the big one, got b_small={b_small}, b_big={b_big}")
    signal = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
    trace = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big)
    return signal, trace


def _first_size(batch) -> int | None:
    sizes = []
    apply_to_collection(batch, Tensor, lambda t: sizes.append(t.shape[0]) if t.ndim else None)
    return sizes[0] if sizes else None


def split_batch(batch, num_micro_batches: int | None) -> list[tuple[object, int]]:
    """Split every tensor whose dim 0 is the batch size into near-equal micro-batches: [(batch_k, b_k)]."""
    size = _first_size(batch)
    if not size:
        return []
    k = size if num_micro_batches is None else min(num_micro_batches, size)
    counts = [size // k + (1 if i < size % k else 0) for i in range(k)]
    out, start = [], 0
    for n in counts:
        take = (lambda t, s=start, m=n: t.narrow(0, s, m) if t.ndim and t.shape[0] == size else t)
        out.append((apply_to_collection(batch, Tensor, take), n))
        start += n
    return out


def _grad_scale(trainer) -> float:
    """The loss scale of fp16 AMP (gradients are scaled by it until the optimizer step), else 1."""
    scaler = getattr(trainer.precision_plugin, "scaler", None)
    return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0


def _loss_of(output) -> Tensor | None:
    if isinstance(output, Mapping):
        output = output.get("loss")
    return output if isinstance(output, Tensor) else None


def _mute(*args, **kwargs) -> None:
    return None


@contextlib.contextmanager
def _isolated_step(trainer, pl_module):
    """Run extra training_step calls without side effects: no logging, RNG and buffers restored."""
    saved = [(buf, buf.detach().clone()) for buf in pl_module.buffers()]
    device = pl_module.device
    rng_devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    pl_module.log, pl_module.log_dict = _mute, _mute
    try:
        with torch.random.fork_rng(devices=rng_devices), torch.enable_grad(), \
                trainer.strategy.precision_plugin.train_step_context():
            yield
    finally:
        del pl_module.log, pl_module.log_dict
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


class GradientVarianceMonitor(Callback):
    """Log gradient noise statistics and the gradient noise scale every ``every_n_steps`` steps.

    Args:
        every_n_steps: measure on optimizer steps 0, N, 2N, ... (default 50; 1 with ``mode="ddp_hook"``).
        num_micro_batches: micro-batches per rank and measured batch (``None``: per-sample gradients).
            Across all ranks there must be at least 2. Not used by ``mode="ddp_hook"``.
        mode: ``"micro_batch"`` (an extra forward/backward in micro-batches; any strategy) or
            ``"ddp_hook"`` (per-rank vs all-reduced gradients from a DDP communication hook; DDP with
            at least 2 processes, see the module docstring).
        groups: ``"modules"`` (top-level child modules of the LightningModule, plus ``alpha`` for all
            fractional-order parameters, found by type), ``"optimizer"`` (optimizer parameter groups,
            named by their ``"name"`` entry or ``opt<i>_group<j>``), ``"none"`` (``all`` only), or a dict
            ``{group: regex}`` over parameter names. ``all`` is always logged.
        ema_decay: decay of the EMAs behind ``noise_scale`` and ``snr``.
    """

    def __init__(self, every_n_steps: int | None = None, num_micro_batches: int | None = 4,
                 groups: str | dict[str, str] = "modules", ema_decay: float = 0.9, mode: str = "micro_batch"):
        check_choice(mode, "mode", MODES)
        if every_n_steps is None:
            every_n_steps = 50 if mode == "micro_batch" else 1
        check_int(every_n_steps, "every_n_steps")
        if num_micro_batches is not None:
            check_int(num_micro_batches, "num_micro_batches (None: per-sample)")
        if isinstance(groups, Mapping):
            try:
                self._group_patterns = {str(k): re.compile(v) for k, v in groups.items()}
            except (re.error, TypeError) as err:
                raise ValueError(f"groups must map group names to regular expressions: {err}") from None
        elif groups in GROUP_MODES:
            self._group_patterns = None
        else:
            raise ValueError(f"groups must be one of {', '.join(map(repr, GROUP_MODES))} or a dict of regexes, "
                             f"got {groups!r}")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1), got {ema_decay!r}")
        self.every_n_steps, self.num_micro_batches = every_n_steps, num_micro_batches
        self.groups, self.ema_decay, self.mode = groups, float(ema_decay), mode
        self._hook: GradientNormHook | None = None
        self._hook_params: tuple[list[str], list[Tensor]] = ([], [])
        self._hook_groups: list[list[str]] | None = None
        self._rank_samples = 0  # samples this rank has seen in the current optimizer step (ddp_hook)
        self.ema: dict[str, dict[str, float]] = {}   # group -> {"trace", "signal", "count"}
        self.last_metrics: dict[str, float] = {}
        self._last_step = -1
        self._warned: set[str] = set()

    @property
    def state_key(self) -> str:
        if self.mode == "ddp_hook":
            return self._generate_state_key(every_n_steps=self.every_n_steps, mode=self.mode)
        return self._generate_state_key(every_n_steps=self.every_n_steps, num_micro_batches=self.num_micro_batches)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"GradientVarianceMonitor: {message}", RuntimeWarning, stacklevel=3)

    # --- parameter groups ---------------------------------------------------------------------------
    def _group_names(self, trainer, pl_module, names: list[str], params: list[Tensor]) -> list[list[str]]:
        """For each parameter, the groups it belongs to (always including ``all``)."""
        member = [["all"] for _ in names]
        if isinstance(self.groups, Mapping):
            for i, name in enumerate(names):
                member[i] += [g for g, pattern in self._group_patterns.items() if pattern.search(name)]
        elif self.groups == "modules":
            order_params = {id(p) for m in pl_module.modules() if isinstance(m, ORDER_TYPES) for p in m.parameters()}
            for i, (name, p) in enumerate(zip(names, params)):
                top = name.split(".", 1)[0] if "." in name else "root"
                member[i].append(top)
                if id(p) in order_params:
                    member[i].append("alpha")
        elif self.groups == "optimizer":
            where = {}
            for i, opt in enumerate(trainer.optimizers):
                for j, group in enumerate(opt.param_groups):
                    label = str(group.get("name", f"opt{i}_group{j}"))
                    for p in group["params"]:
                        where.setdefault(id(p), []).append(label)
            for i, p in enumerate(params):
                member[i] += where.get(id(p), [])
        return member

    # --- measurement --------------------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        if self.mode != "ddp_hook":
            return
        from torch.nn.parallel import DistributedDataParallel

        ddp = trainer.strategy.model
        if not isinstance(ddp, DistributedDataParallel):
            raise ValueError("GradientVarianceMonitor(mode='ddp_hook') needs a DDP strategy (strategy='ddp', "
                             f"'ddp_spawn', ...), got {type(trainer.strategy).__name__}; use mode='micro_batch'")
        if trainer.world_size < 2:
            raise ValueError("GradientVarianceMonitor(mode='ddp_hook') needs at least 2 processes (each rank's "
                             f"gradient is a small batch), got world size {trainer.world_size}; use "
                             "mode='micro_batch'")
        if not pl_module.automatic_optimization:
            self._warn_once("manual", "manual optimization is not supported; no statistics are logged")
            return
        named = [(n, p) for n, p in pl_module.named_parameters() if p.requires_grad]
        self._hook_params = ([n for n, _ in named], [p for _, p in named])
        self._hook_groups = None
        self._hook = GradientNormHook(self._hook_params[1], pl_module.device, ddp.process_group)
        self._hook.register(ddp)
        self._rank_samples = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        step = trainer.global_step
        if self._hook is not None:  # ddp_hook: only count this rank's samples; the hook does the rest
            self._hook.active = step % self.every_n_steps == 0
            self._rank_samples += _first_size(batch) or 0
            self._hook.inv_batch = 1.0 / self._rank_samples if self._rank_samples > 0 else math.inf
            return
        if self.mode != "micro_batch" or step % self.every_n_steps or step == self._last_step:
            return
        self._last_step = step  # gradient accumulation: measure the first batch of the step only
        if not pl_module.automatic_optimization:
            self._warn_once("manual", "manual optimization is not supported; no statistics are logged")
            return
        metrics = self.measure(trainer, pl_module, batch, batch_idx)
        if metrics:
            self.last_metrics = metrics
            log_to_loggers(trainer, metrics, step)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._hook is None:
            return
        samples, self._rank_samples = self._rank_samples, 0
        sums, buckets = self._hook.take()
        if not self._hook.active or buckets == 0 or trainer.global_step == self._last_step:
            return  # not a measured step, or several optimizers: the first one measures
        self._last_step = trainer.global_step
        if samples <= 0:
            self._warn_once("batch", "could not find a batch dimension (no tensor in the batch); no statistics")
        # row 0: the mean over ranks of |g_rank|^2 and of 1/b, which came with the last bucket's all-reduce
        (*small, _, inv_b), (*big, _, _) = sums.tolist()  # one call: the numbers as Python floats
        world, scale_sq = trainer.world_size, _grad_scale(trainer) ** 2
        small = [x / scale_sq for x in small]
        big = [x / scale_sq for x in big]
        if not (0 < inv_b < math.inf and all(map(math.isfinite, small + big))):
            return  # a rank without a batch size, or an fp16 overflow step that the scaler skips
        names, params = self._hook_params
        if self._hook_groups is None:  # the same parameters all fit long: find their groups once
            self._hook_groups = self._group_names(trainer, pl_module, names, params)
        b_small = 1.0 / inv_b
        metrics = self._statistics(trainer, pl_module, names, params, small, big, b_small, world * b_small, world,
                                   self._hook_groups)
        if metrics:
            self.last_metrics = metrics
            log_to_loggers(trainer, metrics, trainer.global_step)

    def measure(self, trainer, pl_module, batch, batch_idx: int = 0) -> dict[str, float]:
        """Measure the statistics on ``batch`` (all ranks must call it together) and update the EMAs."""
        named = [(n, p) for n, p in pl_module.named_parameters() if p.requires_grad]
        names, params = [n for n, _ in named], [p for _, p in named]
        device = pl_module.device
        micro = split_batch(batch, self.num_micro_batches)
        if not micro:
            self._warn_once("batch", "could not find a batch dimension (no tensor in the batch); "
                                     "this rank contributes no micro-batches")
        dtype = torch.float64 if params and all(p.dtype == torch.float64 for p in params) else torch.float32
        weighted_sum = torch.zeros(sum(p.numel() for p in params), dtype=dtype, device=device)
        views = list(torch.split(weighted_sum, [p.numel() for p in params])) if params else []
        # per-parameter sum_k |g_k|^2, then K, sum_k 1/b_k, sum_k b_k
        small = torch.zeros(len(params) + 3, dtype=torch.float64, device=device)
        if params and micro:
            with _isolated_step(trainer, pl_module):
                for micro_batch, b in micro:
                    loss = _loss_of(pl_module.training_step(micro_batch, batch_idx))
                    if loss is None:  # the step skipped this micro-batch
                        continue
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                    for i, g in enumerate(grads):
                        if g is not None:
                            small[i] += g.detach().to(torch.float64).pow(2).sum()
                            views[i].add_(g.detach().reshape(-1).to(dtype), alpha=float(b))
                    small[-3:] += torch.tensor([1.0, 1.0 / b, float(b)], dtype=torch.float64, device=device)
        weighted_sum = trainer.strategy.reduce(weighted_sum, reduce_op="sum")
        small = trainer.strategy.reduce(small, reduce_op="sum")
        count, inv_b_sum, total = small[-3:].tolist()
        if count < 2:
            self._warn_once("count", f"need at least 2 micro-batches over all ranks, got {int(count)}; "
                                     "use larger batches or more micro-batches")
            return {}
        b_small, b_big = count / inv_b_sum, total
        big_sq = [float((v.to(torch.float64) / b_big).pow(2).sum())
                  for v in torch.split(weighted_sum, [p.numel() for p in params])] if params else []
        small_mean = (small[:len(params)] / count).tolist()
        return self._statistics(trainer, pl_module, names, params, small_mean, big_sq, b_small, b_big, count)

    def _statistics(self, trainer, pl_module, names: list[str], params: list[Tensor], small: list[float],
                    big: list[float], b_small: float, b_big: float, count: float,
                    members: list[list[str]] | None = None) -> dict[str, float]:
        """Metrics from per-parameter |G_small|^2 (mean over the K small batches) and |G_big|^2;
        ``members``: each parameter's groups (default: ``_group_names``)."""
        per_group: dict[str, list[float]] = {}
        if members is None:
            members = self._group_names(trainer, pl_module, names, params)
        for i, groups in enumerate(members):
            small_i, big_i = small[i], big[i]
            for g in groups:
                acc = per_group.setdefault(g, [0.0, 0.0])
                acc[0] += small_i
                acc[1] += big_i
        metrics = {"grad_var/batch_size": b_big, "grad_var/micro_batch_size": b_small,
                   "grad_var/num_micro_batches": count}
        for g, (small_sq, big_sq_g) in per_group.items():
            signal, trace = noise_estimates(small_sq, big_sq_g, b_small, b_big)
            ema_signal, ema_trace = self._update_ema(g, signal, trace)
            metrics[f"grad_var/{g}/grad_norm"] = math.sqrt(big_sq_g)
            metrics[f"grad_var/{g}/noise_trace"] = trace
            metrics[f"grad_var/{g}/signal"] = signal
            if ema_signal > 0:
                metrics[f"grad_var/{g}/noise_scale"] = ema_trace / ema_signal
            if ema_trace > 0:
                metrics[f"grad_var/{g}/snr"] = ema_signal * b_big / ema_trace
        if "grad_var/all/noise_scale" in metrics:
            metrics["grad_var/noise_scale"] = metrics["grad_var/all/noise_scale"]
        return metrics

    def _update_ema(self, group: str, signal: float, trace: float) -> tuple[float, float]:
        """Bias-corrected EMAs of |G|^2 and tr Sigma for ``group``."""
        state = self.ema.setdefault(group, {"signal": 0.0, "trace": 0.0, "count": 0})
        d = self.ema_decay
        state["signal"] = d * state["signal"] + (1 - d) * signal
        state["trace"] = d * state["trace"] + (1 - d) * trace
        state["count"] += 1
        correction = 1.0 - d ** state["count"]
        return state["signal"] / correction, state["trace"] / correction

    # --- checkpointing ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"ema": {g: dict(s) for g, s in self.ema.items()}, "last_step": self._last_step,
                "last_metrics": dict(self.last_metrics)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.ema = {g: dict(s) for g, s in state_dict.get("ema", {}).items()}
        self._last_step = int(state_dict.get("last_step", -1))
        self.last_metrics = dict(state_dict.get("last_metrics", {}))
