"""Handwritten digits: the UCI 8x8 optical-recognition set that ships inside scikit-learn.

1797 grey-level images (0..16) of the digits 0-9 (Alpaydin & Kaynak 1998), read from the copy installed
with scikit-learn (``sklearn.datasets.load_digits``, no download). Used to fine-tune image models that
were pretrained on simulated fields: a small, real, labelled set.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from fraczoo._checks import check_int
from fraczoo.datamodules._splits import TensorSplitDataModule

NUM_IMAGES = 1797


def load_digits_tensors(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as (x (1797, 1, size, size) float32, each image zero-mean unit-std; y (1797,) int64)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # optional dependency: only this data set needs it
        raise ImportError("DigitsDataModule reads the digits shipped with scikit-learn: "
                          "pip install scikit-learn (or fraczoo[images])") from err
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = (x - x.mean(dim=(-2, -1), keepdim=True)) / x.std(dim=(-2, -1), keepdim=True)
    return x, torch.tensor(digits.target, dtype=torch.long)


class DigitsDataModule(TensorSplitDataModule):
    """Classify 8x8 digits (optionally resized to ``size``): batches (x (B, 1, size, size), label (B,)).

    The 1797 images are split once by ``seed`` into test (``test_size``), validation (``val_size``) and
    train (the rest, or its first ``train_size`` images: few-label fine-tuning experiments).
    """

    def __init__(self, size: int = 8, train_size: int | None = None, val_size: int = 300,
                 test_size: int = 300, batch_size: int = 64, seed: int = 0, num_workers: int = 0):
        super().__init__()
        for arg, value, low in (("size", size, 4), ("val_size", val_size, 1), ("test_size", test_size, 1),
                                ("batch_size", batch_size, 1), ("seed", seed, 0), ("num_workers", num_workers, 0)):
            check_int(value, arg, low)
        available = NUM_IMAGES - val_size - test_size
        if available < 1:
            raise ValueError(f"val_size + test_size must leave training images (total {NUM_IMAGES}), "
                             f"got {val_size} + {test_size}")
        if train_size is not None:
            check_int(train_size, "train_size (None: all the rest)", 1, available)
        self.save_hyperparameters()

    def build_splits(self) -> dict[str, TensorDataset]:
        x, y = load_digits_tensors(self.hparams.size)
        order = torch.randperm(NUM_IMAGES, generator=torch.Generator().manual_seed(self.hparams.seed))
        n_test, n_val = self.hparams.test_size, self.hparams.val_size
        test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        if self.hparams.train_size is not None:
            train = train[:self.hparams.train_size]
        return {name: TensorDataset(x[idx], y[idx]) for name, idx in (("train", train), ("val", val), ("test", test))}
