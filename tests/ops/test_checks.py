import math

import pytest
import torch

from fraczoo._checks import check_alpha, check_dim, check_positive, check_tensor


def test_check_tensor():
    check_tensor(torch.zeros(3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        check_tensor([1.0])
    with pytest.raises(TypeError, match="floating"):
        check_tensor(torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="real"):
        check_tensor(torch.zeros(3, dtype=torch.complex64))
    with pytest.raises(ValueError, match="NaN or inf"):
        check_tensor(torch.tensor([1.0, math.nan]), "y")


def test_check_alpha():
    assert check_alpha(0.5, 0, 1) == 0.5
    a = torch.tensor([0.2, 0.9], requires_grad=True)
    assert check_alpha(a, 0, 1) is a
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\], got 0"):
        check_alpha(0.0, 0, 1, lo_open=True)
    with pytest.raises(ValueError, match=r"values in \[0.2, 1.5\]"):
        check_alpha(torch.tensor([0.2, 1.5]), 0, 1)
    with pytest.raises(ValueError):
        check_alpha(math.nan, 0, 1)
    with pytest.raises(TypeError):
        check_alpha("0.5", 0, 1)
    with pytest.raises(TypeError):
        check_alpha(True, 0, 1)


def test_check_positive_and_dim():
    assert check_positive(torch.tensor(0.5), "dt") == 0.5
    with pytest.raises(ValueError, match="dt must be a finite number > 0"):
        check_positive(0.0, "dt")
    x = torch.zeros(2, 3)
    assert check_dim(x, -1) == 1
    with pytest.raises(ValueError, match="out of range"):
        check_dim(x, 2)
    with pytest.raises(TypeError):
        check_dim(x, 1.0)
