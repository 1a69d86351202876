import pytest


@pytest.fixture(autouse=True)
def _solvers_on_one_thread(one_thread):
    """The solvers make many small tensor ops (see tests/conftest.py)."""
    yield
