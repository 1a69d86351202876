"""The maintenance scripts: smoke runs write their JSON; Ctrl-C stops them cleanly, writing nothing."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def script(name, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # a shell starts background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the script the disposition of a terminal where a user presses Ctrl-C
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / name), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_bench_smoke_run_writes_json(tmp_path):
    out = tmp_path / "spectral.json"
    proc = script("bench_spectral.py", "--quick", "--out", str(out))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    assert "wrote" in stdout and json.loads(out.read_text())["rows"]


def test_ctrl_c_stops_a_benchmark_cleanly(tmp_path):
    out = tmp_path / "fode.json"
    # these sizes take minutes; interrupt once the progress bar shows the measurements have started
    proc = script("bench_fode.py", "--sizes", "4096", "8192", "--out", str(out))
    seen = ""
    while "N:" not in seen:
        char = proc.stderr.read(1)
        assert char, "the script ended before its progress bar appeared"
        seen += char
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    stderr = seen + stderr
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted: nothing was written" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()
