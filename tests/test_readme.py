"""The README's "From zero, model by model" commands run as written (install line aside: this
environment is the install). Each model's block: train 1 epoch with W&B offline, fine-tune, predict."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTION = ROOT.joinpath("README.md").read_text().split("## From zero, model by model")[1].split("\n## ")[0]
BLOCKS = dict(re.findall(r"### `(\w+)`\s*```bash\n(.*?)```", SECTION, flags=re.S))


def test_every_zoo_model_has_a_block():
    import fraczoo

    assert sorted(BLOCKS) == fraczoo.list_models()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_from_zero_block_runs(name, tmp_path):
    for folder in ("models", "callbacks", ".ci"):  # the commands use paths relative to a clone
        (tmp_path / folder).symlink_to(ROOT / folder)
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    env.pop("WANDB_API_KEY", None)
    bindir = Path(sys.executable).parent
    for line in BLOCKS[name].strip().splitlines():
        command = line.split("  #")[0].strip()
        if "pip install" in command:
            continue
        if command.startswith(".venv/bin/wandb sync"):  # needs an account; check what it would upload
            assert list((tmp_path / "runs" / "wandb").glob("offline-run-*")), "no offline W&B run to sync"
            continue
        program, *rest = shlex.split(command)  # .venv/bin/<program> -> this environment's
        head = [sys.executable, "-m", "fraczoo"] if program == ".venv/bin/fraczoo" else [str(bindir / Path(program).name)]
        args = head + rest
        out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 0, f"{command}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
