import math
from pathlib import Path

import lightning as L
import pytest
import torch
from scipy.special import erfcx

import fraczoo
from fraczoo.datamodules.fractional_dynamics import simulate_dynamics


pytestmark = pytest.mark.usefixtures("one_thread")


def small_dm(**kwargs):
    args = dict(n_steps=20, t_end=2.0, train_size=64, val_size=16, test_size=16, batch_size=16, substeps=2)
    args.update(kwargs)
    return fraczoo.create_datamodule("neural_fode", **args)


def test_relaxation_simulation_matches_mittag_leffler():
    # D^(1/2) y = -diag(1, 2) y: y_i = y0_i E_(1/2)(-c_i sqrt(t)) = y0_i erfcx(c_i sqrt(t))
    y0 = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    t, y = simulate_dynamics("relaxation", 0.5, y0, 40, 2.0, substeps=8)
    exact = torch.stack([torch.from_numpy(erfcx(c * t.sqrt().numpy())) for c in (1.0, 2.0)], -1) * y0
    assert y.shape == (1, 41, 2)
    assert float((y[0, 10:] - exact[10:]).abs().max()) < 1e-4  # away from the t^a singularity at 0


def test_oscillator_alpha_one_is_the_classical_damped_oscillator():
    y0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    t, y = simulate_dynamics("oscillator", 1.0, y0, 50, 2.0, substeps=8)
    omega, gamma = 1.5, 0.3
    wd = math.sqrt(omega ** 2 - gamma ** 2 / 4)
    x = torch.exp(-gamma * t / 2) * (torch.cos(wd * t) + gamma / (2 * wd) * torch.sin(wd * t))
    assert float((y[0, :, 0] - x).abs().max()) < 1e-4


def test_datamodule_deterministic_shapes_and_true_alpha():
    dm1, dm2 = small_dm(seed=3), small_dm(seed=3)
    dm1.setup()
    dm2.setup()
    t, y = dm1.splits["train"].tensors
    assert t.shape == (64, 21) and y.shape == (64, 21, 2) and y.dtype == torch.float32
    assert torch.equal(y, dm2.splits["train"].tensors[1])
    assert not torch.equal(dm1.splits["val"].tensors[1], y[:16])
    assert torch.equal(dm1.true_alpha, torch.tensor([0.8, 0.8]))
    assert torch.equal(small_dm(alpha=[0.6, 0.9]).true_alpha, torch.tensor([0.6, 0.9]))


@pytest.mark.parametrize("kwargs, match", [(dict(system="lorenz"), "system must be one of"),
                                           (dict(alpha=1.2), "alpha must lie in"),
                                           (dict(alpha=[0.5, 0.6, 0.7]), "alpha must be a number or a list"),
                                           (dict(n_steps=1), "n_steps"), (dict(t_end=-1.0), "t_end"),
                                           (dict(noise_std=-0.1), "noise_std"), (dict(batch_size=0), "batch_size")])
def test_datamodule_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_dm(**kwargs)


@pytest.mark.parametrize("kwargs, match", [(dict(gradient="magic"), "gradient must be one of"),
                                           (dict(method="rk4"), "method must be one of"),
                                           (dict(gradient="deq", method="pece"), "implicit method"),
                                           (dict(alpha_init=1.0), "alpha_init"), (dict(hidden=0), "hidden")])
def test_model_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fraczoo.create_model("neural_fode", **kwargs)


@pytest.mark.parametrize("per_dim", [False, True])
def test_gradient_modes_give_the_same_gradients(per_dim):
    # float32 model: the three modes agree to float32 solver tolerance
    dm = small_dm(n_steps=15)
    dm.setup()
    t, y = dm.splits["train"].tensors
    batch = (t[:8], y[:8])
    grads = {}
    for gradient in ("direct", "adjoint", "deq"):
        torch.manual_seed(0)
        model = fraczoo.create_model("neural_fode", hidden=16, per_dim_alpha=per_dim, gradient=gradient)
        loss = model.training_step(batch, 0)
        grads[gradient] = torch.autograd.grad(loss, list(model.parameters()))
    for gradient in ("adjoint", "deq"):
        for a, b in zip(grads["direct"], grads[gradient]):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-5)
    alpha_grad = grads["direct"][-1]
    assert alpha_grad.shape == ((2,) if per_dim else ()) and bool((alpha_grad != 0).all())


def test_short_fit_reduces_loss_and_logs_alpha(tmp_path):
    L.seed_everything(0)
    model = fraczoo.create_model("neural_fode", hidden=16, lr=2e-2, alpha_lr=5e-2)
    dm = small_dm()
    dm.setup()
    t, y = dm.splits["val"].tensors
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(model(y[:, 0], t[0]), y))
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, dm)
    metrics = trainer.callback_metrics
    assert {"val_loss", "val_mse", "alpha/0", "val_alpha_error"} <= set(metrics)
    assert float(metrics["val_loss"]) < 0.7 * before


def test_finetune_loads_the_backbone():
    if "neural_fode.oscillator" not in fraczoo.list_pretrained():
        pytest.skip("no pretrained neural_fode weights in the catalogue")
    source = fraczoo.load_pretrained("neural_fode.oscillator")
    tuned = fraczoo.create_model("neural_fode", alpha_init=0.5, init_weights="neural_fode.oscillator")
    for (name, a), b in zip(source.backbone.state_dict().items(), tuned.backbone.state_dict().values()):
        assert torch.equal(a, b), name


def test_shipped_configs_parse(tmp_path):
    from fraczoo.cli import make_cli

    root = Path(__file__).resolve().parents[2] / "models" / "neural_fode"
    configs = [["config.yaml"]]
    if "neural_fode.oscillator" in fraczoo.list_pretrained():
        configs.append(["config.yaml", "finetune.yaml"])  # it starts from the pretrained weights
    for names in configs:
        cli = make_cli([*(a for name in names for a in ("--config", str(root / name))), "--trainer.logger=false",
                        f"--trainer.default_root_dir={tmp_path}"], run=False)
        assert isinstance(cli.model, L.LightningModule)
