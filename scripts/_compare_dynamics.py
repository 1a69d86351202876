"""The "dynamics" part of scripts/compare_baselines.py (neural_fode against a neural ODE).

Placeholder on this branch: the neural_fode helper writes the real ``run_dynamics`` on its own branch,
and the merge replaces this file.
"""


def run_dynamics(args) -> None:
    raise NotImplementedError("the dynamics comparison lives on the neural_fode branch (scripts/_compare_dynamics.py)")
