"""Start a 2-process CPU DDP run of a worker function and collect each rank's JSON result."""
from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

import pytest
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_entry(rank: int, fn, world: int, port: int, out_dir: str, *args) -> None:
    """``result = fn(rank, world, port, out_dir, *args)``, written to ``out_dir/rank<rank>.json`` in one rename
    (a reader never sees half a file), then the gloo group is closed behind a barrier: a group still open at
    exit, or closed while the peer is mid-collective, sometimes aborts the process
    (``terminate called without an active exception``) after the work is done."""
    import torch.distributed as dist

    result = fn(rank, world, port, out_dir, *args)
    tmp = Path(out_dir) / f".rank{rank}.json.tmp"
    tmp.write_text(json.dumps(result))
    os.replace(tmp, Path(out_dir) / f"rank{rank}.json")
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_ranks(fn, out: Path, *args, world: int = 2, timeout_s: float = 240) -> list[dict]:
    """Call ``fn(rank, world, port, str(out), *args)`` in ``world`` spawned processes and return what each rank's
    call returned (a JSON-able dict). A run that does not finish in ``timeout_s`` (a deadlock) fails the test,
    as does a rank that raises or dies before every rank has written its result. A rank killed by a signal
    after all results are written (gloo's teardown, outside fraczoo) only warns: the results are complete."""
    ctx = mp.start_processes(_rank_entry, args=(fn, world, free_port(), str(out), *args), nprocs=world, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + timeout_s
    files = [out / f"rank{r}.json" for r in range(world)]
    try:
        while not ctx.join(timeout=2):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                pytest.fail(f"the DDP run did not finish in {timeout_s} s (deadlock?)")
    except mp.ProcessExitedException as e:
        if e.signal_name is None or not all(f.exists() for f in files):
            raise
        warnings.warn(f"DDP rank {e.error_index} died with {e.signal_name} after every rank wrote its result "
                      "(gloo teardown); the results are complete", RuntimeWarning)
    return [json.loads(f.read_text()) for f in files]
