"""The DDP test harness itself: a rank that dies after every result is written only warns; one that dies
before fails the test."""
import os
import threading
import time

import pytest
import torch.multiprocessing as mp

from tests.callbacks._spawn import run_ranks


def _abort_later(rank: int, world: int, port: int, out_dir: str, seconds: float) -> dict:
    # a non-daemon thread keeps the process alive past the return, then aborts it (as gloo's teardown can)
    if rank == 1:
        threading.Thread(target=lambda: (time.sleep(seconds), os.abort())).start()
    return {"rank": rank}


def _abort_now(rank: int, world: int, port: int, out_dir: str) -> dict:
    if rank == 1:
        os.abort()
    time.sleep(5)
    return {"rank": rank}


def test_an_abort_after_every_result_is_written_warns_and_keeps_the_results(tmp_path):
    with pytest.warns(RuntimeWarning, match="SIGABRT after every rank wrote its result"):
        assert run_ranks(_abort_later, tmp_path, 1.0, timeout_s=60) == [{"rank": 0}, {"rank": 1}]


def test_an_abort_before_the_results_are_written_fails(tmp_path):
    with pytest.raises(mp.ProcessExitedException, match="SIGABRT"):
        run_ranks(_abort_now, tmp_path, timeout_s=60)
