"""Gradient modes of fodeint: direct, discrete adjoint and deep equilibrium (implicit function theorem).

All three differentiate the same discrete solution, so they must agree to the solver tolerance (observed
~5e-10 absolute on gradients of size ~90 for direct vs adjoint/deq, i.e. ~1e-11 relative; PECE adjoint
vs direct 1e-14), and agree with central finite differences.
"""
import pytest
import torch

from fraczoo.fode import fodeint

F64 = torch.float64


class Field(torch.nn.Module):
    """A small MLP vector field with an explicit time dependence."""

    def __init__(self, dim=2, hidden=8, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.l1 = torch.nn.Linear(dim, hidden, dtype=F64)
        self.l2 = torch.nn.Linear(hidden, dim, dtype=F64)

    def forward(self, t, y):
        return 0.5 * self.l2(torch.tanh(self.l1(y))) + 0.1 * torch.sin(t)


def grid(n, t_end=1.5):
    return torch.linspace(0.0, t_end, n, dtype=F64)


def loss_of(y):
    # a loss on every time point, weighted so that no time point is special
    weights = torch.linspace(0.2, 1.0, y.shape[0], dtype=F64).reshape((-1,) + (1,) * (y.ndim - 1))
    return (weights * (y ** 2 + y)).sum()


def all_grads(field, method, gradient, y0_value, alpha_value, n=60, **options):
    y0 = y0_value.clone().requires_grad_(True)
    alpha = alpha_value.clone().requires_grad_(True)
    y = fodeint(field, y0, grid(n), alpha, method=method, gradient=gradient, **options)
    grads = torch.autograd.grad(loss_of(y), [y0, alpha, *field.parameters()])
    return y.detach(), torch.cat([g.reshape(-1) for g in grads])


Y0 = torch.tensor([[0.5, -0.3], [0.1, 0.2]], dtype=F64)  # batch of 2 states in R^2
ALPHAS = {"scalar": torch.tensor(0.7, dtype=F64), "per_component": torch.tensor([0.55, 0.85], dtype=F64)}


@pytest.mark.parametrize("alpha_kind", ["scalar", "per_component"])
@pytest.mark.parametrize("method", ["trapezoid", "l1"])
def test_three_modes_agree_implicit(method, alpha_kind):
    field = Field()
    y_d, g_d = all_grads(field, method, "direct", Y0, ALPHAS[alpha_kind])
    y_a, g_a = all_grads(field, method, "adjoint", Y0, ALPHAS[alpha_kind])
    y_q, g_q = all_grads(field, method, "deq", Y0, ALPHAS[alpha_kind])
    assert torch.allclose(y_d, y_a, atol=1e-14)  # the adjoint's forward is the sequential solver
    assert torch.allclose(y_d, y_q, atol=1e-10)
    scale = float(g_d.abs().max())
    assert float((g_d - g_a).abs().max()) < 1e-10 * scale
    assert float((g_q - g_a).abs().max()) < 1e-10 * scale


@pytest.mark.parametrize("corrector_steps", [1, 2])
@pytest.mark.parametrize("alpha_kind", ["scalar", "per_component"])
def test_pece_adjoint_equals_direct(alpha_kind, corrector_steps):
    field = Field()
    _, g_d = all_grads(field, "pece", "direct", Y0, ALPHAS[alpha_kind], corrector_steps=corrector_steps)
    _, g_a = all_grads(field, "pece", "adjoint", Y0, ALPHAS[alpha_kind], corrector_steps=corrector_steps)
    assert torch.allclose(g_d, g_a, rtol=1e-12, atol=1e-12)  # explicit scheme: exact to rounding


def test_newton_adjoint_equals_direct():
    field = Field()
    _, g_d = all_grads(field, "trapezoid", "direct", Y0, ALPHAS["scalar"], implicit="newton")
    _, g_a = all_grads(field, "trapezoid", "adjoint", Y0, ALPHAS["scalar"], implicit="newton")
    assert float((g_d - g_a).abs().max()) < 1e-10 * float(g_d.abs().max())


@pytest.mark.parametrize("method, gradient", [("trapezoid", "adjoint"), ("trapezoid", "deq"),
                                              ("pece", "adjoint"), ("l1", "deq")])
def test_central_finite_differences(method, gradient):
    field = Field()
    t = grid(40)
    weight = field.l1.weight

    def loss(y0, alpha):
        return loss_of(fodeint(field, y0, t, alpha, method=method, gradient=gradient))

    y0 = Y0.clone().requires_grad_(True)
    alpha = ALPHAS["per_component"].clone().requires_grad_(True)
    g_y0, g_alpha, g_w = torch.autograd.grad(loss(y0, alpha), [y0, alpha, weight])
    eps = 1e-6
    with torch.no_grad():
        def central(perturb):
            return (perturb(eps) - perturb(-eps)) / (2 * eps)

        def at_y0(e):
            y = Y0.clone()
            y[1, 0] += e
            return loss(y, ALPHAS["per_component"])

        def at_alpha(e):
            a = ALPHAS["per_component"].clone()
            a[1] += e
            return loss(Y0, a)

        def at_weight(e):
            weight[3, 1] += e
            value = loss(Y0, ALPHAS["per_component"])
            weight[3, 1] -= e
            return value

        for analytic, numeric in [(g_y0[1, 0], central(at_y0)), (g_alpha[1], central(at_alpha)),
                                  (g_w[3, 1], central(at_weight))]:
            assert float(analytic) == pytest.approx(float(numeric), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("gradient", ["adjoint", "deq"])
def test_gradcheck_y0_and_alpha(gradient):
    t = grid(10)

    def run(y0, alpha):
        return fodeint(lambda s, y: -y + 0.3 * torch.sin(y) + torch.cos(s), y0, t, alpha,
                       method="trapezoid", gradient=gradient)

    y0 = torch.tensor([0.4, -0.7], dtype=F64, requires_grad=True)
    alpha = torch.tensor([0.5, 0.9], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(run, (y0, alpha))


@pytest.mark.parametrize("gradient", ["adjoint", "deq"])
def test_alpha_one_gradients_agree(gradient):
    field = Field()
    alpha = torch.tensor(1.0, dtype=F64)
    _, g_d = all_grads(field, "trapezoid", "direct", Y0, alpha)
    _, g_x = all_grads(field, "trapezoid", gradient, Y0, alpha)
    assert torch.isfinite(g_x).all()
    assert float((g_d - g_x).abs().max()) < 1e-10 * float(g_d.abs().max())


def test_plain_function_and_scalar_state():
    # no nn.Module: gradients still reach y0 and alpha; closure tensors get theirs via adjoint_params
    c = torch.tensor(1.3, dtype=F64, requires_grad=True)
    t = grid(30)
    grads = {}
    for gradient in ["direct", "adjoint", "deq"]:
        y0 = torch.tensor(1.0, dtype=F64, requires_grad=True)
        alpha = torch.tensor(0.6, dtype=F64, requires_grad=True)
        opts = {} if gradient == "direct" else {"adjoint_params": [c]}
        y = fodeint(lambda s, y: -c * y, y0, t, alpha, method="trapezoid", gradient=gradient, **opts)
        assert y.shape == (30,)
        grads[gradient] = torch.stack(torch.autograd.grad(y.sum(), [y0, alpha, c]))
    assert torch.allclose(grads["adjoint"], grads["direct"], rtol=1e-9)
    assert torch.allclose(grads["deq"], grads["direct"], rtol=1e-9)


# -- memory ------------------------------------------------------------------------------------------
def saved_bytes(gradient, n, hidden=64):
    """Bytes autograd keeps for the backward pass after one forward solve."""
    field = Field(hidden=hidden)
    total = [0]

    def pack(x):
        total[0] += x.numel() * x.element_size()
        return x

    y0 = torch.zeros(8, 2, dtype=F64, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):  # the sequential solvers
        fodeint(field, y0, grid(n), 0.6, method="trapezoid", gradient=gradient, parallel=False)
    return total[0]


def test_adjoint_memory_does_not_grow_with_activations():
    trajectory_bytes = 8 * 2 * 8  # one state per time point
    small, large = saved_bytes("adjoint", 30), saved_bytes("adjoint", 150)
    assert large - small <= 120 * trajectory_bytes  # only the stored trajectory grows (observed: equal)
    direct_small, direct_large = saved_bytes("direct", 30), saved_bytes("direct", 150)
    assert direct_large - direct_small > 20 * (large - small)  # network activations for every step



def most_live_tensors(method, n):
    """Most Python tensor objects alive while func runs, over one adjoint forward + backward."""
    import gc

    field = Field(hidden=8)
    most, calls = [0], [0]

    def counted(t, y):
        calls[0] += 1
        if calls[0] % 64 == 0:  # gc.get_objects() is slow; every 64th call samples both sweeps
            most[0] = max(most[0], sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects()))
        return field(t, y)

    y0 = torch.zeros(4, 2, dtype=F64, requires_grad=True)
    fodeint(counted, y0, grid(n), 0.6, method=method, gradient="adjoint", parallel=False).square().sum().backward()
    return most[0]


@pytest.mark.parametrize("method", ["pece", "trapezoid"])
def test_adjoint_solver_keeps_no_tensor_per_step(method):
    # the O(N d) sequences live in a few buffers; per-step tensor objects (views, lists of rows) would
    # add hundreds of bytes of bookkeeping per step on top of the data (issue 4's flat-memory target)
    small, large = most_live_tensors(method, 64), most_live_tensors(method, 320)
    assert large - small <= 30  # observed: +6 (FFT levels); with per-step views and row lists: +1500

# -- deq specifics -----------------------------------------------------------------------------------
def test_deq_stiff_long_problem_windows_and_matches_sequential():
    f = lambda s, y: -20.0 * y + torch.sin(s)  # noqa: E731
    t = torch.linspace(0.0, 4.0, 321, dtype=F64)
    y0 = torch.ones(1, dtype=F64)
    reference = fodeint(f, y0, t, 0.8, method="trapezoid")
    with pytest.raises(RuntimeError, match="parallel-in-time fixed-point iteration.*diverged"):
        fodeint(f, y0, t, 0.8, method="trapezoid", gradient="deq", anderson_m=0, adaptive=False)
    stats = {}
    y = fodeint(f, y0, t, 0.8, method="trapezoid", gradient="deq", stats=stats)
    assert stats["forward_windows"] > 1
    assert torch.allclose(y, reference, atol=1e-10)
    stats = {}  # one window of all steps to start with: it diverges and is split
    y = fodeint(f, y0, t, 0.8, method="trapezoid", gradient="deq", window=320, stats=stats)
    assert stats["forward_window_splits"] >= 1 and stats["forward_windows"] > 1
    assert torch.allclose(y, reference, atol=1e-10)


def test_deq_reports_iterations_and_anderson_helps():
    field = Field()
    t = grid(200, 3.0)
    stats_anderson, stats_picard = {}, {}
    y1 = fodeint(field, Y0, t, 0.7, method="trapezoid", gradient="deq", anderson_m=5, window=256,
                 stats=stats_anderson)
    y2 = fodeint(field, Y0, t, 0.7, method="trapezoid", gradient="deq", window=256, stats=stats_picard)
    assert torch.allclose(y1, y2, atol=1e-10)
    assert 0 < stats_anderson["forward_sweeps"] < stats_picard["forward_sweeps"]


@pytest.mark.parametrize("batching", ["vmap", "loop"])
def test_deq_time_batching_modes(batching):
    field = Field()
    _, g_ref = all_grads(field, "trapezoid", "deq", Y0, ALPHAS["scalar"], n=30)
    _, g = all_grads(field, "trapezoid", "deq", Y0, ALPHAS["scalar"], n=30, time_batching=batching)
    assert torch.allclose(g, g_ref, rtol=1e-10, atol=1e-12)


def test_deq_fixed_window_option():
    field = Field()
    _, g_all = all_grads(field, "l1", "deq", Y0, ALPHAS["scalar"])
    _, g_win = all_grads(field, "l1", "deq", Y0, ALPHAS["scalar"], window=7)
    assert float((g_all - g_win).abs().max()) < 1e-10 * float(g_all.abs().max())


def test_gradient_mode_options_are_checked():
    y0, t = torch.ones(1, dtype=F64), grid(5)
    with pytest.raises(TypeError, match="unexpected option.*'window'"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="trapezoid", window=3)
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="trapezoid", gradient="deq", window=0)
    with pytest.raises(ValueError, match="time_batching must be one of"):
        fodeint(lambda s, y: -y, y0, t, 0.5, method="trapezoid", gradient="deq", time_batching="x")


class ReadoutField(Field):
    """An MLP field (no time dependence) that exposes its last layer (``linear_readout``), as NeuralFODE's
    solve field does."""

    def features(self, t, y):
        return torch.tanh(self.l1(y))

    def forward(self, t, y):
        return self.l2(self.features(t, y))

    @property
    def linear_readout(self):
        return self.features, self.l2.weight.t(), self.l2.bias


class WithoutReadout(torch.nn.Module):
    """The same map as ``field``, with no readout to fold the corrector weight into."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def forward(self, t, y):
        return self.field(t, y)


@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
@pytest.mark.parametrize("alpha_kind", ["scalar", "per_component"])
@pytest.mark.parametrize("method", ["trapezoid", "l1"])
def test_folded_readout_gives_the_same_solution_and_gradients(method, alpha_kind, gradient):
    field = ReadoutField()
    stats_folded, stats_plain = {}, {}
    y_f, g_f = all_grads(field, method, gradient, Y0, ALPHAS[alpha_kind], stats=stats_folded)
    y_p, g_p = all_grads(WithoutReadout(field), method, gradient, Y0, ALPHAS[alpha_kind], stats=stats_plain)
    assert torch.allclose(y_f, y_p, rtol=0, atol=1e-13)
    assert float((g_f - g_p).abs().max()) < 1e-11 * float(g_p.abs().max())
    assert stats_folded["iterations"] == stats_plain["iterations"]


def test_folded_readout_gradcheck_and_one_dimensional_state():
    field = ReadoutField(hidden=3)
    t = grid(12)
    y0 = Y0.clone().requires_grad_(True)
    alpha = ALPHAS["per_component"].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y0, alpha: fodeint(field, y0, t, alpha, method="trapezoid"), (y0, alpha))
    # a state of shape (D,) cannot use addmm: the readout is not used, and the solution is the same
    single = fodeint(field, Y0[0], t, ALPHAS["scalar"], method="trapezoid")
    batched = fodeint(field, Y0[:1], t, ALPHAS["scalar"], method="trapezoid")
    assert torch.allclose(single, batched[:, 0], rtol=0, atol=1e-13)
