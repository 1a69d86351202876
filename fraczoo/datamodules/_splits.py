"""Shared plumbing for data modules whose splits are in-memory tensors built once in ``setup``."""
from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

SPLITS = ("train", "val", "test")


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
    """A datamodule whose "train", "val" and "test" splits are TensorDatasets built once, in ``setup``.

    hparams hold ``batch_size``, ``num_workers``, ``seed`` and ``<split>_size``. A subclass implements
    ``simulate(n, stream)`` (n examples from the random stream ``stream``: 0 train, 1 val, 2 test, so every
    split is the same on every run and rank) or, for a fixed data set, overrides ``build_splits``. Training
    batches are shuffled by (seed, epoch); predict uses the test split.
    """

    def __init__(self):
        super().__init__()
        self.splits: dict[str, TensorDataset] = {}

    def simulate(self, n: int, stream: int) -> TensorDataset:
        raise NotImplementedError

    def generator(self, stream: int) -> torch.Generator:
        """The random stream ``stream`` of this data set's seed."""
        return torch.Generator().manual_seed(self.hparams.seed * 1000 + stream)

    def build_splits(self) -> dict[str, TensorDataset]:
        return {split: self.simulate(self.hparams[f"{split}_size"], stream) for stream, split in enumerate(SPLITS)}

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.build_splits()

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
