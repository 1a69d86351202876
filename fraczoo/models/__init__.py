"""The zoo: one LightningModule per file, each registered with ``@register_model`` (see ``_registry``)."""
from fraczoo.models.bayesian_alpha_regressor import BayesianAlphaRegressor
from fraczoo.models.neural_fode import NeuralFODE
from fraczoo.models.spectral_fractional_cnn import SpectralFractionalCNN
from fraczoo.models.stochastic_memory_seq import StochasticMemorySeq

__all__ = ["BayesianAlphaRegressor", "NeuralFODE", "SpectralFractionalCNN", "StochasticMemorySeq"]
