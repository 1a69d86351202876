"""AnomalousDiffusionDataModule: batch format, determinism (epochs, workers, seeds), argument checks."""
from __future__ import annotations

import math

import lightning as L
import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch

from fraczoo.datamodules.andi import MODEL_NAMES
from fraczoo.datamodules.anomalous_diffusion import AnomalousDiffusionDataModule

SMALL = dict(min_length=10, max_length=40, train_size=70, val_size=30, test_size=20, batch_size=16)


def _epoch(dm: AnomalousDiffusionDataModule, epoch: int) -> list[dict]:
    loader = dm.train_dataloader()
    _set_sampler_epoch(loader, epoch)  # what Lightning's fit loop does at every epoch start
    return list(loader)


def _equal(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
                                    for x, y in zip(a, b))


def _check_batch(batch: dict, dim: int, max_length: int) -> None:
    x, lengths, mask = batch["x"], batch["lengths"], batch["mask"]
    assert set(batch) == {"x", "lengths", "mask", "alpha", "model"}
    assert x.dtype == torch.float32 and lengths.dtype == torch.long and mask.dtype == torch.bool
    assert batch["alpha"].dtype == torch.float32 and batch["model"].dtype == torch.long
    b, t, d = x.shape
    assert d == dim and t == int(lengths.max()) <= max_length and lengths.shape == (b,)
    assert mask.shape == (b, t) and torch.equal(mask.sum(1), lengths)
    assert torch.equal(mask, torch.arange(t)[None] < lengths[:, None])
    assert (x[~mask] == 0).all() and (x[:, 0] == 0).all() and torch.isfinite(x).all()
    assert ((batch["model"] >= 0) & (batch["model"] < len(MODEL_NAMES))).all()
    assert ((batch["alpha"] >= 0.05 - 1e-6) & (batch["alpha"] <= 2.0)).all()


@pytest.mark.parametrize("dim", [1, 3])
def test_batches_have_the_documented_format(dim):
    dm = AnomalousDiffusionDataModule(dim=dim, **SMALL)
    dm.setup("fit")
    train = _epoch(dm, 0)
    assert len(train) == len(dm.train_dataloader()) == math.ceil(70 / 16)
    assert [len(b["lengths"]) for b in train] == [16, 16, 16, 16, 6]
    val = list(dm.val_dataloader())
    assert [len(b["lengths"]) for b in val] == [16, 14]
    for batch in train + val:
        _check_batch(batch, dim, 40)
    dm.setup("test")
    assert sum(len(b["lengths"]) for b in dm.test_dataloader()) == 20


def test_model_subset_and_no_noise():
    dm = AnomalousDiffusionDataModule(models=("ctrw",), noise=False, **SMALL)
    batch = _epoch(dm, 0)[0]
    assert (batch["model"] == MODEL_NAMES.index("ctrw")).all()
    assert (batch["alpha"] <= 1.0).all()
    # a raw CTRW only moves by jumps: most steps are exactly zero
    steps = batch["x"].diff(dim=1)[batch["mask"][:, 1:]]
    assert (steps == 0).float().mean() > 0.3


def test_training_stream_is_fresh_each_epoch_and_reproducible():
    dm = AnomalousDiffusionDataModule(seed=5, **SMALL)
    epoch0, epoch1 = _epoch(dm, 0), _epoch(dm, 1)
    assert not torch.equal(epoch0[0]["alpha"], epoch1[0]["alpha"])
    assert _equal(epoch0, _epoch(dm, 0))
    assert _equal(epoch1, _epoch(AnomalousDiffusionDataModule(seed=5, **SMALL), 1))
    assert not _equal(epoch0, _epoch(AnomalousDiffusionDataModule(seed=6, **SMALL), 0))


def test_stream_does_not_depend_on_num_workers():
    serial = AnomalousDiffusionDataModule(seed=1, num_workers=0, **SMALL)
    parallel = AnomalousDiffusionDataModule(seed=1, num_workers=2, **SMALL)
    for epoch in (0, 1):
        assert _equal(_epoch(serial, epoch), _epoch(parallel, epoch))
    serial.setup("fit")
    parallel.setup("fit")
    assert _equal(list(serial.val_dataloader()), list(parallel.val_dataloader()))


def test_fixed_splits_are_deterministic_and_distinct():
    a, b = AnomalousDiffusionDataModule(seed=2, **SMALL), AnomalousDiffusionDataModule(seed=2, **SMALL)
    a.setup()
    b.setup()
    val_a, val_b = list(a.val_dataloader()), list(b.val_dataloader())
    assert _equal(val_a, val_b) and _equal(val_a, list(a.val_dataloader()))
    test_a = list(a.test_dataloader())
    assert not torch.equal(val_a[0]["alpha"][:16], test_a[0]["alpha"][:16])
    assert not torch.equal(val_a[0]["alpha"], _epoch(a, 0)[0]["alpha"])


def test_ranks_share_an_epoch_without_overlap():
    dm = AnomalousDiffusionDataModule(seed=8, **SMALL)  # 5 batches
    single = _epoch(dm, 0)
    stream = dm.train_stream
    per_rank = []
    for rank in (0, 1):
        stream.set_rank(rank, 2)
        per_rank.append([stream.batch(i) for i in stream._rank_batches()])
        assert len(stream) == 3  # equal counts on every rank: DDP steps in lockstep
    stream.set_rank(0, 1)
    interleaved = [per_rank[i % 2][i // 2] for i in range(5)]
    assert _equal(interleaved, single)  # rank r takes batches r, r + 2, ...
    assert len(per_rank[1][-1]["lengths"]) == 16  # batch 5 pads rank 1 to the same count


def test_batches_do_not_alias_the_stored_sets():
    dm = AnomalousDiffusionDataModule(**SMALL)
    dm.setup("fit")
    first = next(iter(dm.val_dataloader()))
    first["x"].add_(1.0)
    assert (next(iter(dm.val_dataloader()))["x"][:, 0] == 0).all()


class _Recorder(L.LightningModule):
    """Fits a constant to alpha and records the training batches it saw, per epoch."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.seen: dict[int, list[torch.Tensor]] = {}

    def training_step(self, batch, batch_idx):
        self.seen.setdefault(self.current_epoch, []).append(batch["alpha"].clone())
        return ((self.bias - batch["alpha"]) ** 2).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", ((self.bias - batch["alpha"]) ** 2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_sets_the_epoch_of_the_stream():
    dm = AnomalousDiffusionDataModule(seed=3, **SMALL)
    model = _Recorder()
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, datamodule=dm)
    reference = AnomalousDiffusionDataModule(seed=3, **SMALL)
    for epoch in (0, 1):
        expected = [b["alpha"] for b in _epoch(reference, epoch)]
        assert len(model.seen[epoch]) == len(expected)
        assert all(torch.equal(s, e) for s, e in zip(model.seen[epoch], expected))


@pytest.mark.parametrize("kwargs,match", [
    ({"train_size": -5}, "train_size must be an int >= 1"),
    ({"val_size": 0}, "val_size must be an int >= 1"),
    ({"test_size": -1}, "test_size must be an int >= 1"),
    ({"batch_size": 0}, "batch_size must be an int >= 1"),
    ({"min_length": 1}, "min_length must be an int >= 2"),
    ({"min_length": 50, "max_length": 20}, "max_length must be an int >= 50"),
    ({"models": ("fbm", "levy")}, "models must be a non-empty list of distinct names from attm, ctrw, fbm"),
    ({"models": ()}, "models must be a non-empty list"),
    ({"dim": 4}, "dim must be 1, 2 or 3"),
    ({"balance": "both"}, "balance must be one of 'model', 'alpha'"),
    ({"noise": "yes"}, "noise must be True or False"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"num_workers": -1}, "num_workers must be an int >= 0"),
    ({"max_length": 49, "full_length": 20}, "full_length must be an int >= 49"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnomalousDiffusionDataModule(**kwargs)


def test_hyperparameters_are_saved():
    dm = AnomalousDiffusionDataModule(dim=2, seed=4, **SMALL)
    assert dm.hparams.dim == 2 and dm.hparams.seed == 4 and list(dm.hparams.models) == list(MODEL_NAMES)
    assert np.isclose(dm.hparams.max_length, 40)
