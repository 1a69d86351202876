"""A ``fraczoo fit`` run killed with SIGKILL mid-epoch and resumed with ``--ckpt_path last`` ends with the
same weights, bit for bit, as a run that was never interrupted (tiny spectral_fractional_cnn, CPU,
the shipped config: seed_everything + deterministic)."""
import signal

import torch

from tests.test_cli import CONFIG, run_cli

# 256 training images / batch 64 = 4 steps per epoch; the kill comes at global step 6, mid epoch 1
ARGS = ["--config", str(CONFIG), "--trainer.max_epochs=3", "--trainer.logger=false", "--data.size=16",
        "--data.train_size=256", "--data.val_size=32", "--data.test_size=32", "--data.batch_size=64"]


def final_state(root):
    ckpt = torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return ckpt["global_step"], ckpt["state_dict"]


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    out = run_cli("fit", *ARGS, f"--trainer.default_root_dir={straight}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]

    out = run_cli("fit", *ARGS, f"--trainer.default_root_dir={killed}",
                  "--trainer.callbacks+=tests._killer.KillAtStep", "--trainer.callbacks.step=6", cwd=tmp_path)
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-3000:])
    step_at_kill, _ = final_state(killed)
    assert step_at_kill == 4  # the epoch-0 checkpoint survived; epoch 1 was cut short

    out = run_cli("fit", *ARGS, f"--trainer.default_root_dir={killed}", "--ckpt_path", "last", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (step_a, state_a), (step_b, state_b) = final_state(straight), final_state(killed)
    assert step_a == step_b == 12
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
