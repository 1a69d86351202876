"""Fractional Gaussian fields: rough 2-D surfaces with a known Hurst exponent H.

A field on the n x n torus with power spectrum S(k) ∝ |k|^-(2H + 2) (the spectrum of a 2-D fractional
Brownian surface, Peitgen & Saupe 1988, ch. 2) is sampled exactly by spectral synthesis: filter white
Gaussian noise by |k|^-(H + 1) in Fourier space, drop the mean (k = 0) mode. Each field is then scaled to
unit standard deviation so only its roughness (H) is informative.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from fraczoo._checks import check_bool, check_int, check_pair
from fraczoo.datamodules._splits import TensorSplitDataModule


def wavenumber_magnitude(size: int) -> torch.Tensor:
    """|k| on the full (size, size) fft2 grid in cycles per sample (float64); the first size // 2 + 1
    columns are the rfft2 layout."""
    ky = torch.fft.fftfreq(size, dtype=torch.float64)[:, None]
    kx = torch.fft.fftfreq(size, dtype=torch.float64)[None, :]
    return torch.sqrt(kx ** 2 + ky ** 2)


def fractional_gaussian_field(hurst: torch.Tensor, size: int, *, generator: torch.Generator | None = None,
                              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sample one periodic field per entry of ``hurst`` (shape (B,)) -> (B, size, size), unit std each."""
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an int >= 4, got {size!r}")
    hurst = torch.as_tensor(hurst, dtype=torch.float64)
    if hurst.ndim != 1 or not bool(((hurst > 0) & (hurst < 1)).all()):
        raise ValueError("hurst must be a 1-D tensor with values in (0, 1)")
    noise = torch.randn(hurst.shape[0], size, size, generator=generator, dtype=torch.float64)
    k = wavenumber_magnitude(size)[:, :size // 2 + 1].contiguous()
    k[0, 0] = 1.0  # its mode is zeroed below; avoids 0 ** negative
    filt = k[None] ** (-(hurst[:, None, None] + 1.0))
    filt[:, 0, 0] = 0.0
    field = torch.fft.irfft2(torch.fft.rfft2(noise) * filt, s=(size, size))
    field = field / field.std(dim=(-2, -1), keepdim=True)
    return field.to(dtype)


class FreshFields(Dataset):
    """Field j (any int >= 0) with H ~ U(hurst_range), simulated when asked for from a generator seeded by
    (seed, j): an endless, reproducible stream that needs no memory; items (x (1, n, n), H) in float32."""

    def __init__(self, size: int, hurst_range: tuple[float, float], seed: int):
        self.size, self.hurst_range, self.seed = size, hurst_range, seed

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # 2**40 + ...: apart from the generator seeds of the fixed splits (seed * 1000 + stream)
        gen = torch.Generator().manual_seed(2 ** 40 + self.seed * 2 ** 32 + index)
        lo, hi = self.hurst_range
        hurst = lo + (hi - lo) * torch.rand(1, generator=gen, dtype=torch.float64)
        return fractional_gaussian_field(hurst, self.size, generator=gen), hurst[0].float()


class EpochBlockSampler(Sampler[int]):
    """Indices epoch * n, ..., (epoch + 1) * n - 1 of a :class:`FreshFields` stream: n new fields every epoch
    (Lightning calls ``set_epoch``), the same ones on a rerun or a resumed run."""

    def __init__(self, n: int):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(range(self.epoch * self.n, (self.epoch + 1) * self.n))

    def __len__(self) -> int:
        return self.n


class FractionalFieldDataModule(TensorSplitDataModule):
    """Regress the Hurst exponent of a fractional Gaussian field: batches (x (B,1,n,n), H (B,)).

    Every split is simulated in ``setup`` from ``seed`` (train, val and test use different streams), so
    the data are the same on every run and every rank, and need no download. With ``fresh_train=True``
    each epoch trains on ``train_size`` new fields instead (:class:`FreshFields`, simulated by the data
    loader), so no field is seen twice and a 64x64 training set needs no memory.
    """

    def __init__(self, size: int = 32, train_size: int = 4096, val_size: int = 512, test_size: int = 512,
                 hurst_range: tuple[float, float] = (0.1, 0.9), batch_size: int = 64, seed: int = 0,
                 num_workers: int = 0, fresh_train: bool = False):
        super().__init__()
        for arg, value, low in (("size", size, 4), ("train_size", train_size, 1), ("val_size", val_size, 1),
                                ("test_size", test_size, 1), ("batch_size", batch_size, 1),
                                ("seed", seed, 0), ("num_workers", num_workers, 0)):
            check_int(value, arg, low)
        lo, hi = check_pair(hurst_range, "hurst_range")
        if not 0 < lo < hi < 1:
            raise ValueError(f"hurst_range must satisfy 0 < low < high < 1, got {tuple(hurst_range)}")
        check_bool(fresh_train, "fresh_train")
        self.save_hyperparameters()

    def simulate(self, n: int, stream: int) -> TensorDataset:
        gen = self.generator(stream)
        lo, hi = self.hparams.hurst_range
        hurst = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)
        x = fractional_gaussian_field(hurst, self.hparams.size, generator=gen)
        return TensorDataset(x.unsqueeze(1), hurst.float())

    def build_splits(self) -> dict[str, TensorDataset]:
        if not self.hparams.fresh_train:
            return super().build_splits()
        # the fresh stream replaces the train split; val and test keep their streams 1 and 2
        return {"val": self.simulate(self.hparams.val_size, 1), "test": self.simulate(self.hparams.test_size, 2)}

    def train_dataloader(self) -> DataLoader:
        if not self.hparams.fresh_train:
            return super().train_dataloader()
        hp = self.hparams
        return DataLoader(FreshFields(hp.size, tuple(hp.hurst_range), hp.seed), batch_size=hp.batch_size,
                          sampler=EpochBlockSampler(hp.train_size), num_workers=hp.num_workers,
                          persistent_workers=hp.num_workers > 0)
