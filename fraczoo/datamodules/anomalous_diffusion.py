"""LightningDataModule over AnDi 2020 trajectories (``fraczoo.datamodules.andi``), simulated on the fly.

Training never sees the same trajectory twice: each epoch is a fresh stream of ``train_size``
trajectories in batches, batch b of epoch e simulated from the seed (seed, 0, e, b). Batch b goes to
rank b mod world_size and, within the rank, to DataLoader worker k mod num_workers (k its index on the
rank); the DataLoader returns the workers' batches round-robin, so the stream is the same for any
``num_workers``. Lightning's per-epoch ``set_epoch`` call (made on the loader's sampler) sets e.
Validation and test are fixed sets simulated once from (seed, 1) and (seed, 2).

``train_file`` / ``val_file`` / ``test_file`` replace a split by a set made with the organisers'
generator (``scripts/andi_official.sh``, read by ``andi_official.load_official``): the whole file (or
list of files, one after the other), reshuffled every epoch (seed, epoch) for training.

Batches are dicts: ``x`` (B, T, dim) float32 positions, zero-padded to the longest trajectory in the
batch; ``lengths`` (B,) long; ``mask`` (B, T) bool (True on observed steps); ``alpha`` (B,) float32;
``model`` (B,) long, codes into ``MODEL_NAMES`` (attm, ctrw, fbm, lw, sbm).
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, get_worker_info

from fraczoo._checks import check_int
from fraczoo.datamodules.andi import BALANCE, MODEL_NAMES, Trajectories, _check_models, simulate
from fraczoo.datamodules.andi_official import load_official

_TRAIN, _VAL, _TEST = 0, 1, 2  # stream ids in the seed (seed, stream, epoch, batch)


def to_batch(trajs: Trajectories, index=slice(None)) -> dict[str, torch.Tensor]:
    """Torch batch of the trajectories ``trajs[index]``, padded to the longest of them."""
    lengths = trajs.lengths[index]
    width = int(lengths.max()) if lengths.size else 0
    # torch.tensor copies: an in-place edit of a batch must not reach the stored set
    x = torch.tensor(trajs.positions[index, :width], dtype=torch.float32)
    lengths = torch.tensor(lengths, dtype=torch.long)
    return {"x": x, "lengths": lengths, "mask": torch.arange(width)[None, :] < lengths[:, None],
            "alpha": torch.tensor(trajs.alpha[index], dtype=torch.float32),
            "model": torch.tensor(trajs.model[index], dtype=torch.long)}


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class AndiTrainStream(IterableDataset):
    """``size`` fresh trajectories per epoch, yielded as ready batches (use with ``batch_size=None``)."""

    def __init__(self, size: int, batch_size: int, seed: int, simulate_kwargs: dict):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.simulate_kwargs = dict(simulate_kwargs)
        self.epoch = 0
        self.rank, self.world_size = 0, 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_rank(self, rank: int, world_size: int) -> None:
        """Set in the main process: DataLoader workers may not see the process group."""
        self.rank, self.world_size = int(rank), int(world_size)

    def _rank_batches(self) -> range:
        """Global indices of the batches this rank yields; every rank gets the same count (DDP needs it)."""
        rank, world = self.rank, self.world_size
        n_batches = math.ceil(self.size / self.batch_size)
        return range(rank, math.ceil(n_batches / world) * world, world)

    def __len__(self) -> int:
        return len(self._rank_batches())

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        """Batch ``index`` of the current epoch (deterministic in seed, epoch and index)."""
        n = min(self.batch_size, self.size - index * self.batch_size)
        n = n if n > 0 else self.batch_size  # DDP padding batches beyond size are full
        rng = np.random.default_rng([self.seed, _TRAIN, self.epoch, index])
        return to_batch(simulate(n, rng=rng, dtype=np.float32, **self.simulate_kwargs))

    def __iter__(self):
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for index in self._rank_batches()[worker::n_workers]:
            yield self.batch(index)


class _EpochSampler(Sampler):
    """Stands in for the sampler DataLoader gives an IterableDataset (it only yields None) and forwards
    Lightning's per-epoch ``set_epoch`` (which it calls on ``loader.sampler``) to the stream."""

    def __init__(self, stream: AndiTrainStream):
        self.stream = stream

    def __iter__(self):
        return itertools.repeat(None)

    def set_epoch(self, epoch: int) -> None:
        self.stream.set_epoch(epoch)


class _StreamLoader(DataLoader):
    """DataLoader over an ``AndiTrainStream`` whose ``sampler.set_epoch`` reaches the stream.

    Workers must not persist: each epoch's workers get a fresh copy of the stream, epoch included.
    """

    def __init__(self, dataset: AndiTrainStream, **kwargs):
        super().__init__(dataset, **kwargs)
        object.__setattr__(self, "sampler", _EpochSampler(dataset))  # DataLoader forbids plain reassignment


class _BatchedSet(Dataset):
    """A fixed simulated set served in consecutive batches (item b = batch b)."""

    def __init__(self, trajs: Trajectories, batch_size: int):
        self.trajs, self.batch_size = trajs, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.trajs) / self.batch_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return to_batch(self.trajs, slice(index * self.batch_size, (index + 1) * self.batch_size))


class _EpochPermutation(Sampler):
    """Indices 0..size-1 in a fresh order each epoch, permuted from (seed, epoch); Lightning's per-epoch
    ``set_epoch`` call on ``loader.sampler`` sets the epoch."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, _TRAIN, self.epoch]).permutation(self.size).tolist())


class AnomalousDiffusionDataModule(L.LightningDataModule):
    """AnDi 2020 trajectories (models attm, ctrw, fbm, lw, sbm) labelled with alpha and model.

    dim: 1, 2 or 3; lengths uniform in min_length..max_length; full_length: positions simulated before
    the cut (default max_length; e.g. 999 with max_length 49 gives the short trajectories of the
    organisers' task-1 sets, the starts of 999-position ones, see ``andi.simulate``); noise: the
    challenge's corruption (unit-std displacements, localisation noise, random N(0, 1) rescaling);
    balance: "model" or "alpha" (see ``andi.simulate``). ``train_size`` trajectories per epoch, drawn fresh every epoch;
    fixed validation and test sets of ``val_size`` and ``test_size``. Everything is determined by
    ``seed``, whatever ``num_workers``. ``train_file``, ``val_file``, ``test_file``: paths of sets made
    by the organisers' generator (``scripts/andi_official.sh``) to use instead of simulated ones (the
    whole file; a list of paths: their sets one after the other; the split's size argument is then unused).
    """

    def __init__(self, dim: int = 1, min_length: int = 10, max_length: int = 1000, full_length: int | None = None,
                 models: Sequence[str] = MODEL_NAMES, noise: bool = True, balance: str = "model",
                 train_size: int = 100_000, val_size: int = 10_000, test_size: int = 10_000,
                 batch_size: int = 128, seed: int = 0, num_workers: int = 0, train_file: str | list[str] | None = None,
                 val_file: str | list[str] | None = None, test_file: str | list[str] | None = None):
        super().__init__()
        if isinstance(dim, bool) or dim not in (1, 2, 3):
            raise ValueError(f"dim must be 1, 2 or 3, got {dim!r}")
        check_int(min_length, "min_length", 2)
        check_int(max_length, "max_length", min_length)
        if full_length is not None:
            check_int(full_length, "full_length", max_length)
        models = _check_models(models)
        if not isinstance(noise, (bool, np.bool_)):
            raise ValueError(f"noise must be True or False, got {noise!r}")
        if balance not in BALANCE:
            raise ValueError(f"balance must be one of {', '.join(map(repr, BALANCE))}; got {balance!r}")
        for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size),
                            ("batch_size", batch_size)):
            check_int(value, name, 1)
        check_int(seed, "seed", 0)
        check_int(num_workers, "num_workers", 0)
        for name, value in (("train_file", train_file), ("val_file", val_file), ("test_file", test_file)):
            paths = value if isinstance(value, (list, tuple)) and value else [value]
            if value is not None and not all(isinstance(p, str) for p in paths):
                raise TypeError(f"{name} must be a path (str), a non-empty list of paths or None, got {value!r}")
        self.save_hyperparameters()
        self.hparams.models = list(models)
        self.simulate_kwargs = {"models": models, "dim": dim, "length": (min_length, max_length),
                                "full_length": full_length,
                                "noise": bool(noise), "balance": balance}
        self.train_stream = AndiTrainStream(train_size, batch_size, seed, self.simulate_kwargs)
        self.splits: dict[str, Trajectories] = {}

    def _fixed_set(self, split: str) -> Trajectories:
        if split not in self.splits:
            path = self.hparams.get(f"{split}_file")
            if path is not None:
                self.splits[split] = trajs = load_official(path)
                if trajs.positions.shape[-1] != self.hparams.dim:
                    raise ValueError(f"{split}_file {path} holds {trajs.positions.shape[-1]}-D trajectories, "
                                     f"but dim={self.hparams.dim}")
                return trajs
            stream, n = {"val": (_VAL, self.hparams.val_size), "test": (_TEST, self.hparams.test_size)}[split]
            rng = np.random.default_rng([self.hparams.seed, stream, 0, 0])
            self.splits[split] = simulate(n, rng=rng, dtype=np.float32, **self.simulate_kwargs)
        return self.splits[split]

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.hparams.train_file is not None:
            self._fixed_set("train")
        if stage in (None, "fit", "validate"):
            self._fixed_set("val")
        if stage in (None, "test", "predict"):
            self._fixed_set("test")

    def train_dataloader(self) -> DataLoader:
        if self.hparams.train_file is not None:
            trajs = self._fixed_set("train")
            return DataLoader(range(len(trajs)), batch_size=self.hparams.batch_size,
                              sampler=_EpochPermutation(len(trajs), self.hparams.seed),
                              collate_fn=functools.partial(to_batch, trajs), num_workers=self.hparams.num_workers)
        self.train_stream.set_rank(*_rank_and_world())
        return _StreamLoader(self.train_stream, batch_size=None, num_workers=self.hparams.num_workers)

    def _fixed_loader(self, split: str) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(_BatchedSet(self._fixed_set(split), self.hparams.batch_size), batch_size=None,
                          shuffle=False, num_workers=workers, persistent_workers=workers > 0)

    def val_dataloader(self) -> DataLoader:
        return self._fixed_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._fixed_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._fixed_loader("test")
