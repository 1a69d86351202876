import pytest
import torch

from fraczoo.nn import FractionalOrder


def test_init_value_and_range():
    order = FractionalOrder(1.5, low=0.0, high=2.0, shape=(3, 1, 1))
    alpha = order()
    assert alpha.shape == (3, 1, 1)
    torch.testing.assert_close(alpha, torch.full((3, 1, 1), 1.5))
    with torch.no_grad():
        order.raw.fill_(1e4)
    assert float(order().max()) <= 2.0


def test_gradient_reaches_raw():
    order = FractionalOrder(0.3)
    order().backward()
    assert order.raw.grad is not None and float(order.raw.grad) > 0


def test_fixed_order_is_buffer():
    order = FractionalOrder(0.3, learnable=False)
    assert not list(order.parameters())
    assert "raw" in order.state_dict()


@pytest.mark.parametrize("kwargs", [dict(init=0.0), dict(init=1.0), dict(init=0.5, low=1.0, high=0.0)])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        FractionalOrder(**kwargs)
