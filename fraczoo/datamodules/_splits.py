"""Shared plumbing for data modules whose splits are in-memory tensors built once in ``setup``."""
from __future__ import annotations

import numbers

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset


def check_pair(arg: str, value) -> tuple[float, float]:
    """``value`` as a (low, high) pair of real numbers; the caller checks their range."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{arg} must be a pair (low, high) of numbers, got {value!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in (low, high)):
        raise ValueError(f"{arg} must be a pair (low, high) of numbers, got {value!r}")
    return float(low), float(high)


class EpochShuffleSampler(Sampler[int]):
    """A random order of ``range(n)`` that depends only on (seed, epoch).

    Lightning calls ``set_epoch`` at the start of every epoch (as for ``DistributedSampler``), so a run
    resumed from an epoch-end checkpoint sees the same batches as one that was never interrupted; the
    default ``shuffle=True`` draws from the global RNG, whose state a checkpoint does not restore.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


class TensorSplitDataModule(L.LightningDataModule):
    """Subclasses fill ``self.splits`` ("train", "val", "test") in ``setup``; hparams hold
    ``batch_size``, ``num_workers`` and ``seed``. Training batches are shuffled by (seed, epoch);
    predict uses the test split."""

    splits: dict[str, TensorDataset]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        data = self.splits[split]
        sampler = EpochShuffleSampler(len(data), self.hparams.seed) if shuffle else None
        return DataLoader(data, batch_size=self.hparams.batch_size, sampler=sampler,
                          num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)
