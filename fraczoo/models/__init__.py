"""The zoo: one LightningModule per file, each registered with ``@register_model``."""
from fraczoo.models.spectral_fractional_cnn import SpectralFractionalCNN

__all__ = ["SpectralFractionalCNN"]
