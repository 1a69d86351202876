"""LightningDataModules and the simulators they draw from (no network)."""
from fraczoo.datamodules.andi import Trajectories, simulate
from fraczoo.datamodules.anomalous_diffusion import AnomalousDiffusionDataModule
from fraczoo.datamodules.digits import DigitsDataModule
from fraczoo.datamodules.fractional_dynamics import FractionalDynamicsDataModule, simulate_dynamics
from fraczoo.datamodules.fractional_fields import FractionalFieldDataModule, fractional_gaussian_field
from fraczoo.datamodules.long_memory import LongMemoryDataModule, arfima, fractional_gaussian_noise

__all__ = ["AnomalousDiffusionDataModule", "DigitsDataModule", "FractionalDynamicsDataModule",
           "FractionalFieldDataModule", "LongMemoryDataModule", "Trajectories", "arfima",
           "fractional_gaussian_field", "fractional_gaussian_noise", "simulate", "simulate_dynamics"]
