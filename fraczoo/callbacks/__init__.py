"""Lightning callbacks for fractional models: learned/predicted orders and gradient noise.

``AlphaPosteriorMonitor`` logs every fractional order in a model (mean/std per layer, W&B histograms)
and the calibration of predicted orders; ``GradientVarianceMonitor`` logs gradient noise statistics
and the gradient noise scale. Both work with any LightningModule, single-process or DDP, and keep
their state in checkpoints. ``callbacks/wandb.yaml`` (beside the package) enables both from the CLI.
``NonFiniteGuard`` stops training at the first NaN/inf loss or gradient, naming the step and the
parameters; ``RNGStateCheckpoint`` makes resumed runs repeat uninterrupted ones. The ``fraczoo``
command line adds these two to every run.
"""
from fraczoo.callbacks.alpha_posterior import AlphaPosteriorMonitor
from fraczoo.callbacks.gradient_variance import GradientVarianceMonitor
from fraczoo.callbacks.non_finite import NonFiniteGuard, NonFiniteLossError
from fraczoo.callbacks.rng_state import RNGStateCheckpoint

__all__ = ["AlphaPosteriorMonitor", "GradientVarianceMonitor", "NonFiniteGuard", "NonFiniteLossError",
           "RNGStateCheckpoint"]
