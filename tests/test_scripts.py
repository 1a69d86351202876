"""The maintenance scripts: smoke runs write their JSON; Ctrl-C stops them cleanly, writing nothing."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import script_module

ROOT = Path(__file__).resolve().parent.parent


def script(name, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # a shell starts background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the script the disposition of a terminal where a user presses Ctrl-C
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / name), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def smoke_run(tmp_path, name: str, *args, timeout: float) -> dict:
    """Run ``scripts/name *args --out <json>``; it must succeed and say where it wrote; returns the JSON."""
    out = tmp_path / "out.json"
    proc = script(name, *args, "--out", str(out))
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr[-2000:]
    assert "wrote" in stdout
    return json.loads(out.read_text())


def test_bench_smoke_run_writes_json(tmp_path):
    assert smoke_run(tmp_path, "bench_spectral.py", "--quick", timeout=300)["rows"]


def test_bench_alpha_regressor_times_other_weights_on_the_same_trajectories(tmp_path):
    """``--compare``: weights of another width get their own rows, for their dim only, beside the shipped ones."""
    import fraczoo
    from fraczoo.models._weights import save_weights

    other = tmp_path / "narrow.pt"
    save_weights(fraczoo.create_model("bayesian_alpha_regressor", dim=1, width=8), other)
    rows = smoke_run(tmp_path, "bench_alpha_regressor.py", "--quick", "--threads", "1", "--compare", str(other),
                     timeout=600)["rows"]
    compared = [r for r in rows if r["method"] == f"predict_alpha of {other}"]
    assert [r["dim"] for r in compared] == [1] and compared[0]["trajectories/s"] > 0
    assert {r["method"] for r in rows} >= {"predict_alpha(symmetrize=False)", "TAMSD fit (numpy)"}


def test_ctrl_c_stops_a_benchmark_cleanly(tmp_path):
    out = tmp_path / "fode.json"
    # these sizes take minutes; interrupt once the progress bar shows the measurements have started
    proc = script("bench_fode.py", "--sizes", "4096", "8192", "--out", str(out))
    seen = ""
    while "N:" not in seen:
        char = proc.stderr.read(1)
        assert char, "the script ended before its progress bar appeared"
        seen += char
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    stderr = seen + stderr
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted: nothing was written" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_make_pretrained_starts_from_weights_committed_in_git(tmp_path, monkeypatch):
    make_pretrained = script_module("make_pretrained")
    import fraczoo
    from fraczoo.models._weights import save_weights

    model = fraczoo.create_model("bayesian_alpha_regressor", width=4, dilations=[1], hidden=8)
    sha = save_weights(model, tmp_path / "w.pt", tag="start")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "w.pt"], ["commit", "-q", "-m", "w"]):
        subprocess.run(git + args, check=True)
    (tmp_path / "w.pt").unlink()  # only the committed blob is left
    monkeypatch.setattr(make_pretrained, "ROOT", tmp_path)
    monkeypatch.setattr(make_pretrained, "STAGES", tmp_path / "stages")
    state = make_pretrained._weights_from_git({"git": "HEAD:w.pt", "sha256": sha})
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(SystemExit, match="does not have sha256"):
        make_pretrained._weights_from_git({"git": "HEAD:w.pt", "sha256": "0" * 64})


def _tiny_alpha_regressor(tmp_path) -> list[str]:
    """CLI overrides of a one-epoch BayesianAlphaRegressor run of a few seconds, for recipe tests."""
    return ["--trainer.max_epochs=1", "--trainer.logger=false", "--trainer.callbacks=[]",
            "--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={tmp_path / 'runs'}", "--model.init_args.width=4",
            "--model.init_args.dilations=[1,2]", "--model.init_args.hidden=8", "--data.init_args.max_length=40",
            "--data.init_args.train_size=64", "--data.init_args.val_size=32", "--data.init_args.test_size=32",
            "--data.init_args.batch_size=32"]


def _add_tiny_recipe(make_pretrained, recipe, tmp_path, monkeypatch) -> None:
    """``recipe`` as ``bayesian_alpha_regressor.tiny``, its stages and weights written under ``tmp_path``."""
    monkeypatch.setenv("FRACZOO_CATALOGUE", str(tmp_path / "models"))
    monkeypatch.setattr(make_pretrained, "STAGES", tmp_path / "stages")
    monkeypatch.setitem(make_pretrained.RECIPES, "bayesian_alpha_regressor.tiny", recipe)


def _run_tiny_recipe(make_pretrained, recipe, tmp_path, monkeypatch) -> tuple[dict, dict]:
    """Run ``recipe`` as ``bayesian_alpha_regressor.tiny`` into ``tmp_path``; returns the state dict of its
    first stage and the final weights file's contents."""
    from fraczoo.models._weights import read_weights

    _add_tiny_recipe(make_pretrained, recipe, tmp_path, monkeypatch)
    make_pretrained.make("bayesian_alpha_regressor.tiny")
    first = read_weights(tmp_path / "stages" / "bayesian_alpha_regressor.tiny.stage1.pt")["state_dict"]
    return first, read_weights(tmp_path / "models" / "bayesian_alpha_regressor" / "tiny.pt")


def test_make_pretrained_stages_continue_from_the_stage_before(tmp_path, monkeypatch, capsys):
    make_pretrained = script_module("make_pretrained")
    from fraczoo.models._weights import read_weights, save_weights

    tiny = _tiny_alpha_regressor(tmp_path)
    stages = [tiny, tiny + ["--model.init_args.lr=0.001", "--data.init_args.seed=1"]]
    recipe = ("models/bayesian_alpha_regressor/config.yaml", stages, "two tiny stages")
    _add_tiny_recipe(make_pretrained, recipe, tmp_path, monkeypatch)

    first = make_pretrained.make("bayesian_alpha_regressor.tiny")
    cache = read_weights(tmp_path / "stages" / "bayesian_alpha_regressor.tiny.stage1.pt")
    final = read_weights(tmp_path / "models" / "bayesian_alpha_regressor" / "tiny.pt")
    assert cache["recipe"] == {"config": recipe[0], "stages": stages[:1]}
    assert final["hparams"]["lr"] == 0.001  # the last stage's settings
    assert any(not torch.equal(final["state_dict"][k], v) for k, v in cache["state_dict"].items())
    assert "taken from" not in capsys.readouterr().out
    assert first["stages_run"] == [1, 2] and first["train_seconds"] == first["run_seconds"] > 0
    assert 0 < cache["train_seconds"] <= first["train_seconds"]

    # a rerun takes stage 1 from its cache and makes the same weights, bit for bit; its record counts the
    # cached stage's seconds too
    second = make_pretrained.make("bayesian_alpha_regressor.tiny")
    assert "stage 1/2 taken from" in capsys.readouterr().out
    assert second["sha256"] == first["sha256"]
    assert second["stages_run"] == [2]
    assert second["train_seconds"] == pytest.approx(cache["train_seconds"] + second["run_seconds"], abs=0.11)

    # a cache that does not know its seconds (written before caches kept them): the total is unknown, not short
    model = make_pretrained._cli(recipe[0], tiny).model
    model.load_state_dict(cache["state_dict"])
    save_weights(model, tmp_path / "stages" / "bayesian_alpha_regressor.tiny.stage1.pt", recipe=cache["recipe"])
    third = make_pretrained.make("bayesian_alpha_regressor.tiny")
    assert third["stages_run"] == [2] and third["train_seconds"] is None and third["run_seconds"] > 0

    # a recipe extended by a stage goes on from the former last stage's weights
    stages.append(tiny + ["--model.init_args.lr=0.0001", "--data.init_args.seed=2"])
    make_pretrained.make("bayesian_alpha_regressor.tiny")
    assert "stage 2/3 taken from" in capsys.readouterr().out
    stages.pop()

    # a changed stage 1 is not answered from the cache
    stages[0] = tiny + ["--model.init_args.weight_decay=0.001"]
    make_pretrained.make("bayesian_alpha_regressor.tiny")
    assert "taken from" not in capsys.readouterr().out
    assert read_weights(tmp_path / "stages" / "bayesian_alpha_regressor.tiny.stage1.pt")["recipe"]["stages"] == stages[:1]


def _assert_grown_keeps_the_function_and_trains(small, big, grow, new_weight) -> dict:
    """``big`` loaded from ``grow(small.state_dict(), big)`` computes what ``small`` does, and two SGD steps move
    ``new_weight(big)`` (the first reaches the zero weights that hide the new part, the second the new part).
    Returns the grown state dict."""
    for p in small.parameters():  # no zero biases: every weight of the small model must be carried over
        p.data.add_(0.1 * torch.randn_like(p))
    grown = grow(small.state_dict(), big)
    big.load_state_dict(grown)
    batch = {"x": torch.randn(6, 30, 1, dtype=torch.float64).cumsum(1),
             "lengths": torch.tensor([30, 12, 25, 10, 30, 17])}
    torch.testing.assert_close(big.predict_batch(batch), small.predict_batch(batch), rtol=0, atol=1e-12)
    opt = torch.optim.SGD(big.parameters(), lr=0.1)
    before = new_weight(big).clone()
    for _ in range(2):
        opt.zero_grad()
        big.loss(big.predict_batch(batch), torch.rand(6, dtype=torch.float64) * 2).backward()
        opt.step()
    assert not torch.equal(new_weight(big), before)
    return grown


def test_make_pretrained_widen_keeps_the_function_and_trains_the_new_channels(tmp_path, monkeypatch, capsys):
    make_pretrained = script_module("make_pretrained")
    from fraczoo.models.bayesian_alpha_regressor import BayesianAlphaRegressor

    torch.manual_seed(0)
    kw = dict(dilations=(1, 2), hidden=8, posterior="histogram", bins=10)
    narrow, wide = BayesianAlphaRegressor(width=4, **kw).double(), BayesianAlphaRegressor(width=7, **kw).double()
    _assert_grown_keeps_the_function_and_trains(narrow, wide, make_pretrained._widened,
                                                lambda m: m.backbone.stem.weight[4:])  # the new channels' own
    with pytest.raises(ValueError, match="cannot widen a width-7 backbone to width 4"):
        make_pretrained._widened(wide.state_dict(), narrow)

    # with a length expert (the batch's trajectories of 10..20 positions go to it): only the main network widens
    kw.update(short_max_length=20, short_width=3, short_dilations=(1,))
    narrow, wide = BayesianAlphaRegressor(width=4, **kw).double(), BayesianAlphaRegressor(width=7, **kw).double()
    grown = _assert_grown_keeps_the_function_and_trains(narrow, wide, make_pretrained._widened,
                                                        lambda m: m.backbone.stem.weight[4:])
    assert all(torch.equal(grown[k], v) for k, v in narrow.state_dict().items() if k.startswith("short_"))

    # as a recipe stage: {"widen": overrides} starts from the stage before, grown
    tiny = _tiny_alpha_regressor(tmp_path)
    recipe = ("models/bayesian_alpha_regressor/config.yaml", [tiny, {"widen": tiny + ["--model.init_args.width=6"]}],
              "a tiny stage, then wider")
    first, final = _run_tiny_recipe(make_pretrained, recipe, tmp_path, monkeypatch)
    assert final["hparams"]["width"] == 6 and final["state_dict"]["backbone.stem.weight"].shape[0] == 6
    # trained from the narrow weights: the old channels moved a little, not to a fresh initialisation
    drift = (final["state_dict"]["backbone.blocks.0.conv.weight"][:4, :4] - first["backbone.blocks.0.conv.weight"])
    assert drift.abs().max() < 0.1 * first["backbone.blocks.0.conv.weight"].abs().max()


def test_make_pretrained_deepen_keeps_the_function_and_trains_the_new_blocks(tmp_path, monkeypatch):
    make_pretrained = script_module("make_pretrained")
    from fraczoo.models.bayesian_alpha_regressor import BayesianAlphaRegressor

    torch.manual_seed(0)
    kw = dict(width=4, hidden=8, posterior="histogram", bins=10)
    shallow = BayesianAlphaRegressor(dilations=(1, 2), **kw).double()
    deep = BayesianAlphaRegressor(dilations=(1, 2, 4, 8), **kw).double()
    _assert_grown_keeps_the_function_and_trains(shallow, deep, make_pretrained._deepened,
                                                lambda m: m.backbone.blocks[3].conv.weight)  # a new block's conv
    with pytest.raises(ValueError, match="cannot deepen"):
        make_pretrained._deepened(deep.state_dict(), shallow)
    with pytest.raises(ValueError, match="cannot deepen"):
        make_pretrained._deepened(shallow.state_dict(), BayesianAlphaRegressor(dilations=(1, 2, 4), width=5, hidden=8))

    # as a recipe stage: {"deepen": overrides} starts from the stage before, grown
    tiny = _tiny_alpha_regressor(tmp_path)
    recipe = ("models/bayesian_alpha_regressor/config.yaml",
              [tiny, {"deepen": tiny + ["--model.init_args.dilations=[1,2,4]"]}], "a tiny stage, then deeper")
    first, final = _run_tiny_recipe(make_pretrained, recipe, tmp_path, monkeypatch)
    assert final["hparams"]["dilations"] == [1, 2, 4] and "backbone.blocks.2.conv.weight" in final["state_dict"]
    drift = final["state_dict"]["backbone.blocks.0.conv.weight"] - first["backbone.blocks.0.conv.weight"]
    assert drift.abs().max() < 0.1 * first["backbone.blocks.0.conv.weight"].abs().max()


def test_make_pretrained_head_stage_keeps_backbone_and_expert_and_fits_a_fresh_head(tmp_path, monkeypatch):
    """{"head": overrides, "epochs": E} fits a new head on the frozen backbone of the stage before: the backbone and
    the length expert stay bit-identical, the head is new; a model that does not fit the stage before is refused."""
    make_pretrained = script_module("make_pretrained")

    tiny = _tiny_alpha_regressor(tmp_path) + ["--model.init_args.posterior=histogram"]
    short = ["--model.init_args.short_max_length=30", "--model.init_args.short_width=4",
             "--model.init_args.short_dilations=[1,2]"]
    stages = [tiny, {"expert": tiny + ["--data.init_args.max_length=30"], "model": tiny + short},
              {"head": tiny + short + ["--data.init_args.seed=3"], "epochs": 2}]
    _, final = _run_tiny_recipe(make_pretrained, ("models/bayesian_alpha_regressor/config.yaml", stages, "head"),
                                tmp_path, monkeypatch)
    from fraczoo.models._weights import read_weights

    joined = read_weights(tmp_path / "stages" / "bayesian_alpha_regressor.tiny.stage2.pt")["state_dict"]
    assert all(torch.equal(final["state_dict"][k], v) for k, v in joined.items() if not k.startswith("head."))
    assert not any(torch.equal(final["state_dict"][k], v) for k, v in joined.items() if k.startswith("head."))
    assert {k for k in final["state_dict"] if k.startswith("short_")} == {k for k in joined if k.startswith("short_")}

    with pytest.raises(ValueError, match="does not fit the stage before"):  # a wider backbone than the stage before
        make_pretrained._fit_head("models/bayesian_alpha_regressor/config.yaml",
                                  {"head": tiny + short + ["--model.init_args.width=6"], "epochs": 1}, joined)


def test_make_pretrained_expert_joins_and_later_stages_keep_it(tmp_path, monkeypatch):
    """{"expert": ..., "model": ...} trains a length expert and joins it to the stage before; a fit stage after it
    trains the main network only: the expert's weights stay bit-identical, though short trajectories reach it."""
    make_pretrained = script_module("make_pretrained")
    from fraczoo.models._weights import read_weights

    tiny = _tiny_alpha_regressor(tmp_path)
    short = ["--model.init_args.short_max_length=30", "--model.init_args.short_width=4",
             "--model.init_args.short_dilations=[1,2]"]
    expert = tiny + ["--data.init_args.max_length=30", "--data.init_args.seed=1"]
    stages = [tiny, {"expert": expert, "model": tiny + short}, tiny + short + ["--data.init_args.seed=2"]]
    first, final = _run_tiny_recipe(make_pretrained, ("models/bayesian_alpha_regressor/config.yaml", stages, "expert"),
                                    tmp_path, monkeypatch)
    joined = read_weights(tmp_path / "stages" / "bayesian_alpha_regressor.tiny.stage2.pt")["state_dict"]
    assert all(torch.equal(joined[k], v) for k, v in first.items())  # the main network as the stage before left it
    assert {k for k in joined if k.startswith("short_")} == {k for k in final["state_dict"] if k.startswith("short_")}
    assert all(torch.equal(final["state_dict"][k], v) for k, v in joined.items() if k.startswith("short_"))
    assert not torch.equal(final["state_dict"]["backbone.stem.weight"], joined["backbone.stem.weight"])


def test_bench_soe_smoke_run(tmp_path):
    rows = smoke_run(tmp_path, "bench_soe.py", "--steps", "3000", timeout=300)["rows"]
    assert all(r["stream rel l2 err"] < 1e-6 for r in rows)


@pytest.mark.slow
def test_compare_memory_seq_smoke_run(tmp_path):
    rows = smoke_run(tmp_path, "compare_memory_seq.py", "--quick", "--tasks", "a", timeout=900)["rows"]
    models = {r["model"] for r in rows}
    assert {"stochastic_memory_seq", "GRU (h=12)", "LSTM (h=10)"} <= models


def test_compare_memory_seq_statistics():
    """(c)'s statistics: the Durbin-Levinson likelihood terms equal the Cholesky ones, local Whittle recovers d
    of an exact ARFIMA(0, 0.3, 0), and the Diebold-Mariano test separates a better forecaster from a tie."""
    import numpy as np
    from fraczoo.datamodules.long_memory import arfima

    cms = script_module("compare_memory_seq")
    rng = np.random.default_rng(0)
    gamma = cms.arfima_p_d_0_acvf(0.3, np.array([0.5, -0.2]), 150)
    x = rng.standard_normal(150)
    chol = np.linalg.cholesky(gamma[np.abs(np.arange(150)[:, None] - np.arange(150)[None, :])])
    quad, logdet = cms.durbin_levinson_terms(x, gamma)
    assert np.isclose(quad, np.sum(np.linalg.solve(chol, x) ** 2), rtol=1e-10)
    assert np.isclose(logdet, 2 * np.log(np.diag(chol)).sum(), rtol=1e-10)

    series = arfima(torch.tensor([0.3]), 4096, generator=torch.Generator().manual_seed(1))[0].numpy()
    d, se = cms.local_whittle_d(series)
    assert abs(d - 0.3) < 3 * se

    noise = rng.standard_normal(2000)
    better = cms.diebold_mariano((0.9 * noise) ** 2, (noise + 0.5 * rng.standard_normal(2000)) ** 2)
    tie = cms.diebold_mariano(noise ** 2, rng.permutation(noise) ** 2)
    assert better["mean_diff"] < 0 and better["p"] < 1e-6
    assert tie["p"] > 0.01 and tie["lags"] == 12


@pytest.mark.slow
def test_compare_memory_seq_real_series_smoke_run(tmp_path):
    rows = smoke_run(tmp_path, "compare_memory_seq.py", "--quick", "--tasks", "c", "--series", "nile",
                     timeout=900)["rows"]
    assert {r["task"] for r in rows} == {"(c) Nile annual flow 1871-1970 (statsmodels nile)"}
    zoo = next(r for r in rows if r["model"] == "stochastic_memory_seq, trained on (a)")
    assert 0 <= zoo["dm_vs_arfima"]["p"] <= 1 and zoo["dm_vs_best_network"]["baseline"]


@pytest.mark.slow
def test_compare_baselines_fields_smoke_run(tmp_path):
    payload = smoke_run(tmp_path, "compare_baselines.py", "--task", "fields", "--quick", "--sizes", "16",
                        "--skip-ablation", timeout=600)
    summary = {r["model"]: r for r in payload["summary"]}
    zoo = summary["spectral_fractional_cnn"]["params"]
    for baseline in ("plain CNN 3x3", "FNO-style"):  # same size: within a few parameters (one head unit)
        assert abs(summary[baseline]["params"] - zoo) <= 0.01 * zoo, baseline
    assert summary["exact MLE (Whittle)"]["ratio_to_mle"] == 1.0
    assert {"posterior median (exact, MAE-optimal)", "variogram fit"} <= set(summary)


@pytest.mark.slow
def test_compare_baselines_dynamics_smoke_run(tmp_path):
    payload = smoke_run(tmp_path, "compare_baselines.py", "--task", "dynamics", "--quick", timeout=900)
    assert payload["settings"]["evals"] == 20
    systems = {r["system"] for r in payload["summary"]}
    assert systems == {"relaxation", "oscillator", "lotka_volterra"}
    assert {"neural_fode", "neural_ode"} <= {r["model"] for r in payload["summary"]}
