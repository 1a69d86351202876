"""Per-rank and averaged gradient norms from a DDP communication hook (``GradientVarianceMonitor(mode=
"ddp_hook")``), the idea of k-diffusion's gradient-noise-scale hook (Crowson et al., ``k_diffusion/gns.py``).

DDP hands each gradient bucket to its communication hook before the all-reduce. The bucket then
holds this rank's local gradient (of the mean loss over its own batch), and after the all-reduce the
average over ranks: the small-batch and big-batch gradients of McCandlish et al. (2018) for free.
The hook does what DDP's default hook does (divide by the world size, all-reduce the sum) and records
per parameter the squared norms |g_rank|^2 before and |g_avg|^2 after it, a few fused operations per
bucket and no extra pass; ``finish`` then all-reduces the (#parameters + 1) numbers of the step.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


# Buckets up to this many gradient numbers take their squared norms by one segment sum, larger ones by
# the fused multi-tensor norm (measured on CPU: 12 vs 48 us at 3.4e3 numbers, 1.0 vs 0.43 ms at 1e6).
_SEGMENT_MAX = 1 << 16


class GradientNormHook:
    """State of the communication hook; ``register`` it on a ``DistributedDataParallel`` module.

    ``params``: the parameters whose norms are recorded (others in a bucket are ignored). ``active``:
    record this backward pass (the all-reduce runs either way).
    """

    def __init__(self, params: list[Tensor], device: torch.device, process_group=None):
        self.index = {id(p): i for i, p in enumerate(params)}
        self.group = process_group
        self.world = dist.get_world_size(process_group)
        # one slot per parameter, and a last one that collects the parameters not monitored
        self.local_sq = torch.zeros(len(params) + 1, dtype=torch.float64, device=device)
        self.mean_sq = torch.zeros_like(self.local_sq)
        self.layouts: dict[tuple, _BucketLayout] = {}
        self.buckets = 0
        self.active = True

    def register(self, ddp_module) -> None:
        try:
            ddp_module.register_comm_hook(self, _allreduce_with_norms)
        except RuntimeError as err:
            raise RuntimeError("GradientVarianceMonitor(mode='ddp_hook') registers a DDP communication hook, and "
                               f"this DDP module has one already ({err}); remove the strategy's ddp_comm_hook or use "
                               "mode='micro_batch'") from None

    def layout(self, bucket) -> "_BucketLayout":
        params = bucket.parameters()
        key = (bucket.index(), len(params), id(params[0]) if params else 0)  # DDP rebuilds buckets once
        layout = self.layouts.get(key)
        if layout is None:
            layout = self.layouts[key] = _BucketLayout(self, params, bucket.buffer().device)
        return layout

    def take(self) -> tuple[Tensor, Tensor, int]:
        """(per parameter, summed over this backward: |g_rank|^2, |g_avg|^2; buckets seen), and reset."""
        out = (self.local_sq[:-1].clone(), self.mean_sq[:-1].clone(), self.buckets)
        self.local_sq.zero_()
        self.mean_sq.zero_()
        self.buckets = 0
        return out


class _BucketLayout:
    """Where the parameters' gradients sit in a bucket's flat buffer: DDP lays them out one after
    another in the order of ``bucket.parameters()``, so the squared norms of all of them are one
    segment sum of the squared buffer."""

    def __init__(self, state: GradientNormHook, params: list[Tensor], device: torch.device):
        other = state.local_sq.shape[0] - 1
        self.sizes = [p.numel() for p in params]
        self.lengths = torch.tensor(self.sizes, dtype=torch.long, device=device)
        self.rows = torch.tensor([state.index.get(id(p), other) for p in params], dtype=torch.long, device=device)

    def add_squared_norms(self, flat: Tensor, out: Tensor) -> None:
        if flat.numel() <= _SEGMENT_MAX:  # one kernel for all parameters
            sums = torch.segment_reduce(flat.square(), "sum", lengths=self.lengths)
        else:  # large buckets: the fused multi-tensor norm reads the buffer once (2x faster on CPU)
            sums = torch.stack(torch._foreach_norm(torch.split(flat, self.sizes))).square()
        out.index_add_(0, self.rows, sums.to(out.dtype))


def _allreduce_with_norms(state: GradientNormHook, bucket):  # no annotations: DDP checks them as objects
    """DDP's default all-reduce hook (divide by the world size, sum over ranks), recording the squared
    norms of this rank's gradients before it and of the averaged gradients after it."""
    buffer = bucket.buffer()
    layout = state.layout(bucket) if state.active else None
    if layout is not None:
        layout.add_squared_norms(buffer, state.local_sq)
        state.buckets += 1
    buffer.div_(state.world)
    future = dist.all_reduce(buffer, group=state.group, async_op=True).get_future()

    def after(fut):
        reduced = fut.value()[0]
        if layout is not None:
            layout.add_squared_norms(reduced, state.mean_sq)
        return reduced

    return future.then(after)
