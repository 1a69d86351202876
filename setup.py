"""Build hook: the wheel carries the catalogue (the repo's models/, datamodules/ and callbacks/ folders:
configs, model cards, pretrained weights) as package data under fraczoo/_catalogue, so an installed fraczoo
finds them from any folder. The repo folders stay the source; everything else is in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGUE = ("models", "datamodules", "callbacks")


class BuildWithCatalogue(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "fraczoo" / "_catalogue"
        for folder in CATALOGUE:
            if (root / folder).is_dir():
                shutil.copytree(root / folder, target / folder, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.tmp"))


setup(cmdclass={"build_py": BuildWithCatalogue})
