import pytest
import torch


@pytest.fixture
def one_thread():
    """For tests made of many small tensor ops: on a loaded 2-core machine intra-op threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
