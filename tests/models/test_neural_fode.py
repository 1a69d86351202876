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
                                           (dict(alpha_init=1.0), "alpha_init"), (dict(hidden=0), "hidden"),
                                           (dict(optimizer="sgd"), "optimizer must be one of"),
                                           (dict(optimizer="lbfgs", weight_decay=1e-4), "weight_decay applies to")])
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
    for gradient, parallel in (("direct", False), ("adjoint", False), ("deq", None), ("direct", True),
                               ("adjoint", True)):
        torch.manual_seed(0)
        model = fraczoo.create_model("neural_fode", hidden=16, per_dim_alpha=per_dim, gradient=gradient,
                                     parallel=parallel)
        loss = model.training_step(batch, 0)
        grads[gradient, parallel] = torch.autograd.grad(loss, list(model.parameters()))
    for key in grads:
        for a, b in zip(grads["direct", False], grads[key]):
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-5)
    alpha_grad = grads["direct", False][-1]
    assert alpha_grad.shape == ((2,) if per_dim else ()) and bool((alpha_grad != 0).all())


def test_solve_field_is_the_backbone():
    torch.manual_seed(0)
    model = fraczoo.create_model("neural_fode", hidden=8, depth=2)
    field = model.backbone.solve_field()
    t = torch.tensor(0.3)
    features, weight_t, bias = field.linear_readout
    for y in (torch.randn(5, 2), torch.randn(3, 5, 2), torch.randn(2)):
        assert torch.equal(field(t, y), model.backbone(t, y))
    y = torch.randn(5, 2)
    assert torch.equal(torch.addmm(bias, features(t, y), weight_t), model.backbone(t, y))


def fit_briefly(model, dm, epochs, root):
    """Validation MSE before training, and the trainer after ``epochs`` epochs."""
    dm.setup()
    t, y = dm.splits["val"].tensors
    with torch.no_grad():
        before = float(torch.nn.functional.mse_loss(model(y[:, 0], t[0]), y))
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=root)
    trainer.fit(model, dm)
    return before, trainer


def test_short_fit_reduces_loss_and_logs_alpha(tmp_path):
    L.seed_everything(0)
    model = fraczoo.create_model("neural_fode", hidden=16, lr=2e-2, alpha_lr=5e-2)
    before, trainer = fit_briefly(model, small_dm(), 3, tmp_path)
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
        # training from scratch: L-BFGS on the full batch; fine-tuning: Adam in mini-batches (the card's table)
        assert cli.model.hparams.optimizer == ("lbfgs" if len(names) == 1 else "adam")
        assert (cli.datamodule.hparams.batch_size == cli.datamodule.hparams.train_size) == (len(names) == 1)


def test_root_lbfgs_converges_on_a_tiny_loss_where_torch_lbfgs_stalls():
    # a least-squares loss that is tiny everywhere (like a noise-free fit near its end): torch's L-BFGS (same
    # settings, no stopping tolerances) drops every curvature pair (s.y <= 1e-10) and crawls; on sqrt(loss) it
    # keeps them. The step returns sqrt of the loss at its start (torch returns the loss there).
    from fraczoo.models._lbfgs import RootLBFGS

    gen = torch.Generator().manual_seed(0)
    scales = torch.diag(torch.logspace(0, -1.5, 10, dtype=torch.float64))
    A = torch.randn(40, 10, generator=gen, dtype=torch.float64) @ scales
    x_true = torch.randn(10, generator=gen, dtype=torch.float64)
    b = A @ x_true
    plain = lambda p: torch.optim.LBFGS(p, line_search_fn="strong_wolfe", history_size=50, tolerance_grad=0,  # noqa: E731
                                        tolerance_change=0)
    errors = {}
    for name, make in (("plain", plain), ("root", RootLBFGS)):
        x = torch.zeros(10, dtype=torch.float64, requires_grad=True)
        opt = make([x])

        def closure():
            opt.zero_grad()
            loss = 1e-8 * (A @ x - b).pow(2).mean()
            loss.backward()
            return loss

        first = float(opt.step(closure).detach())
        for _ in range(12):
            opt.step(closure)
        errors[name] = float((x.detach() - x_true).abs().max())
        if name == "root":
            assert first == pytest.approx(math.sqrt(1e-8 * float(b.pow(2).mean())))
    assert errors["root"] < 1e-7 and errors["plain"] > 0.1


def test_root_lbfgs_needs_a_closure():
    from fraczoo.models._lbfgs import RootLBFGS

    with pytest.raises(ValueError, match="closure"):
        RootLBFGS([torch.zeros(1, requires_grad=True)]).step(None)


def test_root_lbfgs_steps_back_from_trial_points_where_the_solver_fails():
    # the loss (x - 1)^2 has its minimum at 1, but the "solver" fails beyond 0.3: the line search must step
    # back to parameters where it converges and still lower the loss; a failure at the start is raised
    from fraczoo.fode import SolverError
    from fraczoo.models._lbfgs import RootLBFGS

    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = RootLBFGS([x])
    trials = []

    def closure():
        opt.zero_grad()
        trials.append(float(x.detach()))
        if trials[-1] > 0.3:
            raise SolverError("the corrector did not converge")
        loss = (x - 1).pow(2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert any(t > 0.3 for t in trials)  # the search did try a failing point
    assert 0.2 < float(x) <= 0.3  # and ended where the solve works, lower than at the start (loss 1)
    x.data.fill_(0.5)
    with pytest.raises(SolverError):
        opt.step(closure)


def test_lbfgs_option_trains_full_batch_in_lightning(tmp_path):
    L.seed_everything(0)
    model = fraczoo.create_model("neural_fode", hidden=16, optimizer="lbfgs")
    before, trainer = fit_briefly(model, small_dm(train_size=16, batch_size=16), 2, tmp_path)
    assert type(trainer.optimizers[0]).__name__ == "RootLBFGS"
    assert trainer.global_step == 2  # one optimizer step per (full) batch; each runs up to 20 L-BFGS iterations
    assert float(trainer.callback_metrics["val_loss"]) < 0.1 * before


@pytest.mark.slow
def test_shipped_recipe_recovers_the_order_of_a_small_relaxation_problem(tmp_path):
    # the shipped config's model arguments (L-BFGS, full batch) on 4 noise-free relaxation trajectories: 16 optimizer
    # steps (<= 400 evaluations of loss and gradient; the order is within 0.01 from about the 10th)
    import yaml

    config = Path(__file__).resolve().parents[2] / "models" / "neural_fode" / "config.yaml"
    model_args = yaml.safe_load(config.read_text())["model"]["init_args"]
    L.seed_everything(0)
    model = fraczoo.create_model("neural_fode", **model_args)
    dm = small_dm(system="relaxation", alpha=0.6, n_steps=25, train_size=4, batch_size=4, noise_std=0.0, substeps=8)
    trainer = L.Trainer(max_epochs=16, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path)
    trainer.fit(model, dm)
    assert abs(float(model.alpha()) - 0.6) < 0.01
