"""Shared plumbing for data modules whose splits are in-memory tensors built once in ``setup``."""
from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader, TensorDataset


def check_int(arg: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")


class TensorSplitDataModule(L.LightningDataModule):
    """Subclasses fill ``self.splits`` ("train", "val", "test") in ``setup``; hparams hold
    ``batch_size`` and ``num_workers``. Predict uses the test split."""

    splits: dict[str, TensorDataset]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.splits[split], batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)
