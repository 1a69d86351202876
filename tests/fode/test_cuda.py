"""fodeint and neural_fode on a CUDA device: the same numbers as on the CPU (float64, to the solver
tolerance) and gradients on the device. Skipped without CUDA; run by scripts/gpu_check.sh."""
import pytest
import torch

from fraczoo.fode import fodeint

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
F64 = torch.float64


def forced(t, y):
    """tests/fode/test_parallel.py's forced 2-D linear system, its constants on y's device."""
    A = torch.tensor([[-0.5, -1.0], [1.0, -0.5]], dtype=y.dtype, device=y.device)
    return y @ A + torch.sin(t) * torch.tensor([1.0, 0.0], dtype=y.dtype, device=y.device)


def on(device, *tensors):
    return [x.to(device) for x in tensors]


@pytest.mark.parametrize("method, parallel", [("pece", False), ("trapezoid", False), ("trapezoid", True),
                                              ("l1", True)])
def test_solution_matches_cpu(method, parallel):
    t = torch.linspace(0.0, 10.0, 1025, dtype=F64)
    y0 = torch.tensor([[1.0, 0.0], [0.5, -1.0]], dtype=F64)
    cpu = fodeint(forced, y0, t, 0.7, method=method, parallel=parallel)
    t_gpu, y0_gpu = on("cuda", t, y0)
    gpu = fodeint(forced, y0_gpu, t_gpu, 0.7, method=method, parallel=parallel)
    assert gpu.device.type == "cuda"
    assert float((gpu.cpu() - cpu).abs().max()) < 1e-10


@pytest.mark.parametrize("gradient, parallel", [("direct", False), ("direct", True), ("adjoint", False),
                                                ("deq", True)])
def test_gradients_match_cpu(gradient, parallel):
    t = torch.linspace(0.0, 5.0, 257, dtype=F64)

    def grads(device):
        y0 = torch.tensor([1.0, -0.5], dtype=F64, device=device, requires_grad=True)
        alpha = torch.tensor(0.6, dtype=F64, device=device, requires_grad=True)
        y = fodeint(forced, y0, t.to(device), alpha, method="trapezoid", gradient=gradient, parallel=parallel)
        y.square().sum().backward()
        return y0.grad, alpha.grad

    cpu, gpu = grads("cpu"), grads("cuda")
    for c, g in zip(cpu, gpu):
        assert g.device.type == "cuda" and torch.allclose(g.cpu(), c, rtol=1e-8, atol=1e-10)


def test_neural_fode_training_step_on_cuda():
    from fraczoo.models.neural_fode import NeuralFODE

    torch.manual_seed(0)
    model = NeuralFODE(hidden=16).cuda()
    t = torch.linspace(0.0, 5.0, 41, device="cuda")
    y = torch.randn(4, 41, 2, device="cuda")
    loss = torch.nn.functional.mse_loss(model(y[:, 0], t), y)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and g.device.type == "cuda" and torch.isfinite(g).all() for g in grads)
