"""LightningDataModules and the simulators they draw from (no network)."""
from fraczoo.datamodules.andi import Trajectories, simulate
from fraczoo.datamodules.anomalous_diffusion import AnomalousDiffusionDataModule
from fraczoo.datamodules.digits import DigitsDataModule
from fraczoo.datamodules.fractional_fields import FractionalFieldDataModule, fractional_gaussian_field

__all__ = ["AnomalousDiffusionDataModule", "DigitsDataModule", "FractionalFieldDataModule", "Trajectories",
           "fractional_gaussian_field", "simulate"]
