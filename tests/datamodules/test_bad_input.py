"""Bad input to the zoo's entry points (``create_model``, ``load_pretrained``, ``create_datamodule``) and
to every datamodule constructor: one table of (call, expected error, message pattern). Each message must
name the offending argument (and, for names and keys, the valid choices). Rows already covered by the
per-module tests (tests/models, tests/datamodules/test_anomalous_diffusion.py, ...) are not repeated."""
from __future__ import annotations

import math

import pytest

import fraczoo
from fraczoo.datamodules import (AnomalousDiffusionDataModule, DigitsDataModule, FractionalDynamicsDataModule,
                                 FractionalFieldDataModule, LongMemoryDataModule)

MODELS = "bayesian_alpha_regressor, neural_fode, spectral_fractional_cnn, stochastic_memory_seq"


def _pretrained(name: str) -> bool:
    return name in fraczoo.list_pretrained()


def row(call, kwargs, error, match, *, args=(), id, needs=None):
    marks = [pytest.mark.skipif(not _pretrained(needs), reason=f"no {needs} weights")] if needs else []
    return pytest.param(call, args, kwargs, error, match, id=id, marks=marks)


create_model, load_pretrained, create_datamodule = (fraczoo.create_model, fraczoo.load_pretrained,
                                                    fraczoo.create_datamodule)

TABLE = [
    # ---- names
    row(create_model, {}, ValueError, f"unknown model ''; available: {MODELS}", args=("",), id="model-empty-name"),
    row(create_model, {}, TypeError, "model name must be a str, got NoneType", args=(None,), id="model-name-None"),
    row(create_model, {}, KeyError, "unknown pretrained tag 'oscilator' for 'neural_fode'; available: oscillator. "
        "Did you mean 'oscillator'", args=("neural_fode.oscilator",), id="model-misspelt-tag", needs="neural_fode.oscillator"),
    row(create_model, {"pretrained": "stochastic_memry_seq"}, ValueError,
        "unknown model 'stochastic_memry_seq'.*Did you mean 'stochastic_memory_seq'", args=("stochastic_memory_seq",),
        id="model-pretrained-misspelt-name"),
    row(create_model, {"pretrained": "/no/such/dir/w.pt"}, FileNotFoundError, "weights file not found: /no/such/dir/w.pt",
        args=("neural_fode",), id="model-pretrained-missing-file"),
    row(create_model, {"pretrained": 3}, TypeError, "pretrained must be a bool, a path or a URL, got int", args=("neural_fode",),
        id="model-pretrained-int"),
    row(load_pretrained, {}, ValueError, "unknown model 'neural_fod'.*Did you mean 'neural_fode'", args=("neural_fod",),
        id="pretrained-misspelt-model"),
    row(load_pretrained, {}, KeyError, "unknown pretrained tag 'feilds'.*Did you mean 'fields'",
        args=("spectral_fractional_cnn.feilds",), id="pretrained-misspelt-tag", needs="spectral_fractional_cnn.fields"),
    row(load_pretrained, {}, TypeError, r"source must be a pretrained name, a path or a URL \(str\), got int", args=(3,), id="pretrained-name-int"),
    row(create_datamodule, {}, ValueError, f"unknown model 'fields'; available: {MODELS}", args=("fields",),
        id="datamodule-unknown-model"),
    # ---- unknown hyperparameter keys: a TypeError naming the key, the valid keys and the nearest ones
    row(create_model, {"hiden": 8}, TypeError,
        "unknown hyperparameter 'hiden' for model 'neural_fode'; valid: state_dim, hidden, depth, .*"
        "Did you mean 'hidden'", args=("neural_fode",), id="model-unknown-key"),
    row(create_model, {"chanels": [4], "lr_": 1.0}, TypeError,
        "unknown hyperparameters 'chanels', 'lr_' for model 'spectral_fractional_cnn'; valid: in_channels, channels",
        args=("spectral_fractional_cnn",), id="model-two-unknown-keys"),
    row(load_pretrained, {"widht": 8}, TypeError, "unknown hyperparameter 'widht' .*Did you mean 'width'",
        args=("bayesian_alpha_regressor",), id="pretrained-unknown-key"),
    row(create_datamodule, {"n_step": 10}, TypeError,
        r"unknown hyperparameter 'n_step' for the datamodule of 'neural_fode' \(FractionalDynamicsDataModule\); "
        "valid: system, alpha, n_steps, .*Did you mean 'n_steps'", args=("neural_fode",), id="datamodule-unknown-key"),
    row(create_datamodule, {"max_len": 10}, TypeError, "unknown hyperparameter 'max_len' .*valid: dim, min_length, "
        "max_length.*Did you mean 'max_length'", args=("bayesian_alpha_regressor",), id="datamodule-unknown-key-andi"),
    # ---- hyperparameters that do not fit the pretrained weights
    row(load_pretrained, {"hidden": 8}, ValueError, r"weights in neural_fode\.oscillator .* do not fit NeuralFODE",
        args=("neural_fode",), id="pretrained-hparams-do-not-fit", needs="neural_fode.oscillator"),
    # ---- model hyperparameters: negative / zero sizes, bad dim, out-of-range orders
    row(create_model, {"in_channels": 0}, ValueError, "in_channels", args=("spectral_fractional_cnn",),
        id="cnn-in_channels-0"),
    row(create_model, {"hidden": -1}, ValueError, "hidden", args=("spectral_fractional_cnn",), id="cnn-hidden-neg"),
    row(create_model, {"channels": [4, -2]}, ValueError, "channels", args=("spectral_fractional_cnn",),
        id="cnn-channels-neg"),
    row(create_model, {"alpha_init": 2.5}, ValueError, "alpha_init", args=("spectral_fractional_cnn",),
        id="cnn-alpha-init-out-of-range"),
    row(create_model, {"padding": "zeros"}, ValueError, "padding must be one of", args=("spectral_fractional_cnn",),
        id="cnn-padding"),
    row(create_model, {"dim": 0}, ValueError, "dim must be one of 1, 2, 3; got 0", args=("bayesian_alpha_regressor",),
        id="bayes-dim-0"),
    row(create_model, {"hidden": 0}, ValueError, "hidden", args=("bayesian_alpha_regressor",), id="bayes-hidden-0"),
    row(create_model, {"buckets": 0}, ValueError, "buckets", args=("bayesian_alpha_regressor",), id="bayes-buckets-0"),
    row(create_model, {"state_dim": -1}, ValueError, "state_dim", args=("neural_fode",), id="fode-state_dim-neg"),
    row(create_model, {"depth": 0}, ValueError, "depth", args=("neural_fode",), id="fode-depth-0"),
    row(create_model, {"lr": -1.0}, ValueError, "lr", args=("neural_fode",), id="fode-lr-neg"),
    row(create_model, {"order_range": (0.2, 1.5)}, ValueError, "order_range", args=("stochastic_memory_seq",),
        id="seq-order-range-out-of-range"),
    row(create_model, {"num_orders": -3}, ValueError, "num_orders", args=("stochastic_memory_seq",),
        id="seq-num-orders-neg"),
    row(create_model, {"lr": 0.0}, ValueError, "lr", args=("stochastic_memory_seq",), id="seq-lr-0"),
    # ---- create_datamodule passes its keys to the constructor's own checks
    row(create_datamodule, {"train_size": -1}, ValueError, "train_size must be an int >= 1, got -1",
        args=("neural_fode",), id="datamodule-negative-size"),
    row(create_datamodule, {"seed": "0"}, TypeError, "seed must be an int >= 0, got str '0'",
        args=("spectral_fractional_cnn",), id="datamodule-seed-str"),
    # ---- datamodule constructors
    *[row(cls, {"seed": seed}, TypeError, f"seed must be an int >= 0, got {type(seed).__name__} {seed!r}",
          id=f"{cls.__name__}-seed-{type(seed).__name__}-{seed}")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule, DigitsDataModule)
      for seed in ("0", 1.5, None)],
    *[row(cls, {"seed": -1}, ValueError, "seed must be an int >= 0, got -1", id=f"{cls.__name__}-seed-int--1")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule, DigitsDataModule)],
    *[row(cls, {"train_size": -4}, ValueError, "train_size must be an int >= 1, got -4", id=f"{cls.__name__}-train-neg")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule)],
    *[row(cls, {"val_size": 0}, ValueError, "val_size must be an int >= 1, got 0", id=f"{cls.__name__}-val-0")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule, DigitsDataModule)],
    *[row(cls, {"num_workers": -1}, ValueError, "num_workers must be an int >= 0, got -1",
          id=f"{cls.__name__}-workers-neg")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule, DigitsDataModule)],
    *[row(cls, {"batch_size": 2.5}, TypeError, "batch_size must be an int >= 1, got float 2.5",
          id=f"{cls.__name__}-batch-float")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule, DigitsDataModule,
                  AnomalousDiffusionDataModule)],
    *[row(cls, {"no_such_arg": 1}, TypeError, "unexpected keyword argument 'no_such_arg'", id=f"{cls.__name__}-unknown-key")
      for cls in (FractionalFieldDataModule, LongMemoryDataModule, FractionalDynamicsDataModule, DigitsDataModule,
                  AnomalousDiffusionDataModule)],
    row(FractionalFieldDataModule, {"size": -8}, ValueError, "size must be an int >= 4, got -8", id="fields-size-neg"),
    row(FractionalFieldDataModule, {"hurst_range": (0.1, 0.5, 0.9)}, ValueError,
        r"hurst_range must be a pair \(low, high\) of numbers, got \(0.1, 0.5, 0.9\)", id="fields-hurst-triple"),
    row(FractionalFieldDataModule, {"hurst_range": 0.5}, TypeError, "hurst_range must be a pair .* got float 0.5", id="fields-hurst-scalar"),
    row(FractionalFieldDataModule, {"hurst_range": ("a", "b")}, TypeError, "hurst_range must be a pair",
        id="fields-hurst-strings"),
    row(FractionalFieldDataModule, {"hurst_range": (0.0, 0.5)}, ValueError, "hurst_range must satisfy 0 < low < high < 1",
        id="fields-hurst-zero"),
    row(LongMemoryDataModule, {"length": -5}, ValueError, "length must be an int >= 3, got -5", id="longmem-length-neg"),
    row(LongMemoryDataModule, {"d_range": (0.1,)}, ValueError, r"d_range must be a pair \(low, high\)",
        id="longmem-d-range-single"),
    row(LongMemoryDataModule, {"d_range": None}, TypeError, "d_range must be a pair .* got NoneType None", id="longmem-d-range-None"),
    row(LongMemoryDataModule, {"d_range": (0.4, 0.1)}, ValueError, "d_range must satisfy -0.5 < low <= high < 0.5",
        id="longmem-d-range-reversed"),
    row(LongMemoryDataModule, {"hurst_range": [0.5]}, ValueError, "hurst_range must be a pair",
        id="longmem-hurst-single"),
    row(FractionalDynamicsDataModule, {"alpha": "x"}, ValueError, "alpha must be a number or a list of 2 orders",
        id="dynamics-alpha-str"),
    row(FractionalDynamicsDataModule, {"alpha": math.nan}, ValueError, "alpha must lie in", id="dynamics-alpha-nan"),
    row(FractionalDynamicsDataModule, {"alpha": 0.0}, ValueError, "alpha must lie in", id="dynamics-alpha-0"),
    row(FractionalDynamicsDataModule, {"t_end": math.nan}, ValueError, r"t_end must be a finite number in \(0, inf\), got nan",
        id="dynamics-t-end-nan"),
    row(FractionalDynamicsDataModule, {"substeps": 0}, ValueError, "substeps must be an int >= 1, got 0",
        id="dynamics-substeps-0"),
    row(DigitsDataModule, {"size": -8}, ValueError, "size must be an int >= 4, got -8", id="digits-size-neg"),
    row(DigitsDataModule, {"train_size": -1}, ValueError, r"train_size \(None: all the rest\) must be an int in \[1, 1197\], got -1", id="digits-train-neg"),
    row(AnomalousDiffusionDataModule, {"dim": 0}, ValueError, "dim must be 1, 2 or 3, got 0", id="andi-dim-0"),
    row(AnomalousDiffusionDataModule, {"dim": True}, ValueError, "dim must be 1, 2 or 3, got True", id="andi-dim-bool"),
    row(AnomalousDiffusionDataModule, {"min_length": 100, "max_length": 20}, ValueError,
        "max_length must be an int >= 100, got 20", id="andi-min-above-max"),
    row(AnomalousDiffusionDataModule, {"max_length": -1}, ValueError, "max_length must be an int >= 10, got -1",
        id="andi-max-neg"),
    row(AnomalousDiffusionDataModule, {"seed": 1.5}, TypeError, "seed must be an int >= 0, got float 1.5", id="andi-seed-float"),
    row(AnomalousDiffusionDataModule, {"models": ["fbm", "fbm"]}, ValueError, "distinct names", id="andi-models-dup"),
]


@pytest.mark.parametrize("call, args, kwargs, error, match", TABLE)
def test_bad_input_is_a_clear_error(call, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        call(*args, **kwargs)


def test_unknown_names_are_both_value_and_key_errors():
    """Callers may catch either: an unknown model or tag is a lookup failure and a bad value."""
    for catch in (ValueError, KeyError):
        with pytest.raises(catch):
            fraczoo.create_model("no_such_model")
