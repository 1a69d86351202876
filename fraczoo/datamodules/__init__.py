"""LightningDataModules and the simulators they draw from (no network)."""
from fraczoo.datamodules.fractional_fields import FractionalFieldDataModule, fractional_gaussian_field

__all__ = ["FractionalFieldDataModule", "fractional_gaussian_field"]
