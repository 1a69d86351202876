"""fraczoo: a model zoo for fractional-calculus deep learning on PyTorch Lightning.

``fraczoo.ops`` (pure torch) imports fast; the zoo functions below import Lightning on first use.
"""
__version__ = "0.1.0"

_HUB = ("list_models", "list_pretrained", "create_model", "load_pretrained", "save_pretrained",
        "create_datamodule", "load_backbone", "register_model")

__all__ = list(_HUB) + ["__version__"]


def __getattr__(name):
    if name in _HUB:
        from fraczoo import hub

        return getattr(hub, name)
    raise AttributeError(f"module 'fraczoo' has no attribute {name!r}")
