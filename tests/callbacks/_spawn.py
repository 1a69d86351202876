"""Start a 2-process CPU DDP run of a worker function and collect each rank's JSON result."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_entry(rank: int, fn, *args) -> None:
    """``fn(rank, *args)``, then close the process group: a gloo group still open when the process exits
    sometimes aborts it (``terminate called without an active exception``) after the work is done."""
    import torch.distributed as dist

    try:
        fn(rank, *args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def run_ranks(fn, out: Path, *args, world: int = 2, timeout_s: float = 240) -> list[dict]:
    """Call ``fn(rank, world, port, str(out), *args)`` in ``world`` spawned processes; each must write
    ``out/rank<r>.json``. A run that does not finish in ``timeout_s`` (a deadlock) fails the test."""
    ctx = mp.start_processes(_rank_entry, args=(fn, world, free_port(), str(out), *args), nprocs=world, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + timeout_s
    while not ctx.join(timeout=2):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the DDP run did not finish in {timeout_s} s (deadlock?)")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
