"""The organisers' task-1 mix (balance="challenge") and sets from the organisers' generator (files).

The files are written here in the format of ``scripts/andi_official.py`` (tiny, synthetic); the
generator itself needs its own virtualenv and is exercised by that script, not by the tests.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from scipy import stats

import fraczoo
from fraczoo.datamodules.andi import CHALLENGE_EXPONENTS, MODEL_NAMES, challenge_task1_counts, simulate
from fraczoo.datamodules.andi_official import load_official


def write_official(path, sizes, dim, seed=0, **replace):
    """A file laid out like scripts/andi_official.py's: concatenated positions + lengths, alpha, model, meta."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(sizes, dtype=np.int64)
    arrays = {"positions": np.cumsum(rng.standard_normal((lengths.sum(), dim)), 0).astype(np.float32),
              "lengths": lengths, "alpha": rng.choice(CHALLENGE_EXPONENTS, size=len(lengths)),
              "model": rng.integers(0, 5, size=len(lengths)),
              "meta": json.dumps({"model_names": list(MODEL_NAMES), "dim": dim})}
    arrays.update(replace)
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


# ---------------------------------------------------------------- the organisers' task-1 mix

def test_challenge_counts_follow_the_organisers_formula():
    # challenge_theory_dataset(N=5000): per exponent keep ceil(1.1 N / 40) = 138 in model order from
    # attm, ctrw 80 each (exponents <= 1), fbm 42 (not 2), lw 61 (>= 1.05), sbm 40 (all)
    counts = challenge_task1_counts(5000)
    sub, sup = CHALLENGE_EXPONENTS <= 1, (CHALLENGE_EXPONENTS > 1) & (CHALLENGE_EXPONENTS < 2)
    np.testing.assert_array_equal(counts[:, sub].T, np.tile([80, 58, 0, 0, 0], (20, 1)))
    np.testing.assert_array_equal(counts[:, sup].T, np.tile([0, 0, 42, 61, 35], (19, 1)))
    np.testing.assert_array_equal(counts[:, -1], [0, 0, 0, 61, 40])
    # at N = 1500 (the measurement) sbm gets 10 of its 12 per exponent above 1
    assert challenge_task1_counts(1500)[4, 20] == 10 and challenge_task1_counts(1500)[:, 0].tolist() == [24, 18, 0, 0, 0]


def test_simulate_challenge_balance_draws_the_mix():
    data = simulate(4000, length=10, noise=False, balance="challenge", seed=3)
    assert np.isin(data.alpha, CHALLENGE_EXPONENTS).all()
    names = np.array(MODEL_NAMES)[data.model]
    assert set(names[data.alpha <= 1]) == {"attm", "ctrw"} and set(names[data.alpha > 1]) == {"fbm", "lw", "sbm"}
    expected = challenge_task1_counts().sum(1)
    assert stats.chisquare(np.bincount(data.model, minlength=5), expected / expected.sum() * 4000).pvalue > 1e-3
    only = simulate(300, models=("sbm", "fbm"), length=10, balance="challenge", seed=4)
    assert set(only.model) == {2, 4} and (only.alpha > 1).all()


# ---------------------------------------------------------------- reading official files

def test_load_official_pads_the_trajectories(tmp_path):
    arrays = write_official(tmp_path / "set.npz", [12, 30, 10], dim=2)
    data = load_official(tmp_path / "set.npz")
    assert data.positions.shape == (3, 30, 2) and data.positions.dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(data.trajectories()), arrays["positions"])
    assert (data.positions[~data.mask] == 0).all()
    np.testing.assert_array_equal(data.alpha, arrays["alpha"])
    np.testing.assert_array_equal(data.model, arrays["model"])


def test_load_official_reads_a_list_of_files_one_after_the_other(tmp_path):
    first = write_official(tmp_path / "a.npz", [12, 30], dim=1, seed=1)
    second = write_official(tmp_path / "b.npz", [40, 10, 11], dim=1, seed=2)
    data = load_official([tmp_path / "a.npz", str(tmp_path / "b.npz")])
    assert data.positions.shape == (5, 40, 1) and (data.positions[~data.mask] == 0).all()
    np.testing.assert_array_equal(np.concatenate(data.trajectories()),
                                  np.concatenate([first["positions"], second["positions"]]))
    np.testing.assert_array_equal(data.lengths, [12, 30, 40, 10, 11])
    np.testing.assert_array_equal(data.alpha, np.concatenate([first["alpha"], second["alpha"]]))
    np.testing.assert_array_equal(data.model, np.concatenate([first["model"], second["model"]]))
    single = load_official([tmp_path / "b.npz"])
    np.testing.assert_array_equal(single.positions, load_official(tmp_path / "b.npz").positions)
    write_official(tmp_path / "c.npz", [12], dim=2)
    with pytest.raises(ValueError, match="different dimensions"):
        load_official([tmp_path / "a.npz", tmp_path / "c.npz"])
    with pytest.raises(ValueError, match="non-empty list"):
        load_official([])


def test_load_official_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"scripts/andi_official.sh task1 --dim"):
        load_official(tmp_path / "missing.npz")
    write_official(tmp_path / "a.npz", [12, 20], dim=1, model=None)
    with pytest.raises(ValueError, match="lacks the array"):
        load_official(tmp_path / "a.npz")
    write_official(tmp_path / "b.npz", [12, 20], dim=1, lengths=np.array([12, 19]))
    with pytest.raises(ValueError, match="do not fit together"):
        load_official(tmp_path / "b.npz")
    write_official(tmp_path / "c.npz", [12, 20], dim=1, model=np.array([0, 5]))
    with pytest.raises(ValueError, match="model codes must lie in 0..4"):
        load_official(tmp_path / "c.npz")


# ---------------------------------------------------------------- the datamodule option

def test_datamodule_validates_and_trains_on_official_files(tmp_path):
    rng = np.random.default_rng(1)
    write_official(tmp_path / "train.npz", rng.integers(10, 40, size=37), dim=2, seed=1)
    val = write_official(tmp_path / "val.npz", rng.integers(10, 40, size=21), dim=2, seed=2)
    dm = fraczoo.create_datamodule("bayesian_alpha_regressor", dim=2, batch_size=8, train_file=str(tmp_path / "train.npz"),
                                   val_file=str(tmp_path / "val.npz"))
    dm.setup("fit")
    batches = list(dm.val_dataloader())
    assert [len(b["lengths"]) for b in batches] == [8, 8, 5]
    x = torch.cat([b["x"][i, :n] for b in batches for i, n in enumerate(b["lengths"])])
    np.testing.assert_array_equal(x.numpy(), val["positions"])
    assert torch.equal(torch.cat([b["model"] for b in batches]), torch.from_numpy(val["model"]))

    def epoch(e):
        loader = dm.train_dataloader()
        _set_sampler_epoch(loader, e)  # what Lightning's fit loop does at every epoch start
        return torch.cat([b["alpha"] for b in loader]), [len(b["lengths"]) for b in loader]

    (first, sizes), (again, _), (second, _) = epoch(0), epoch(0), epoch(1)
    assert sizes == [8, 8, 8, 8, 5] and torch.equal(first, again) and not torch.equal(first, second)
    assert torch.equal(first.sort().values, second.sort().values)  # every trajectory once per epoch


def test_datamodule_trains_on_a_list_of_files_given_on_the_command_line(tmp_path):
    from fraczoo.cli import make_cli
    from fraczoo.models._catalogue import catalogue_dir

    write_official(tmp_path / "a.npz", [12, 20, 15], dim=1, seed=1)
    write_official(tmp_path / "b.npz", [11, 13], dim=1, seed=2)
    files = [str(tmp_path / "a.npz"), str(tmp_path / "b.npz")]
    config = str(catalogue_dir() / "bayesian_alpha_regressor" / "config.yaml")
    cli = make_cli(["--config", config, "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}",
                    f"--data.init_args.train_file=[{','.join(files)}]",
                    f"--data.init_args.val_file={files[1]}"], run=False, save_config_callback=None)
    assert cli.datamodule.hparams.train_file == files
    cli.datamodule.setup("fit")
    alpha = torch.cat([b["alpha"] for b in cli.datamodule.train_dataloader()])
    expected = np.concatenate([np.load(f)["alpha"] for f in files])
    np.testing.assert_allclose(np.sort(alpha.numpy()), np.sort(expected).astype(np.float32))


def test_datamodule_file_errors(tmp_path):
    write_official(tmp_path / "val.npz", [12, 20], dim=1)
    dm = fraczoo.create_datamodule("bayesian_alpha_regressor", dim=2, val_file=str(tmp_path / "val.npz"))
    with pytest.raises(ValueError, match=r"val_file .* holds 1-D trajectories, but dim=2"):
        dm.setup("validate")
    dm = fraczoo.create_datamodule("bayesian_alpha_regressor", test_file=str(tmp_path / "none.npz"))
    with pytest.raises(FileNotFoundError, match="scripts/andi_official.sh"):
        dm.setup("test")
    for bad in (3, [], ["a.npz", 3]):
        with pytest.raises(TypeError, match="train_file must be a path"):
            fraczoo.create_datamodule("bayesian_alpha_regressor", train_file=bad)
