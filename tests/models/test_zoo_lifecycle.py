"""What users do with every zoo model in one process: check a model with validate/test/predict, then fit
it (Lightning's inference-mode loops must not leave metric states that fit cannot update)."""
from __future__ import annotations

import lightning as L
import pytest
import torch

import fraczoo
from tests.conftest import ZOO_SMALL

pytestmark = pytest.mark.usefixtures("one_thread")
TRAINER = dict(max_epochs=1, limit_train_batches=2, limit_val_batches=1, limit_test_batches=1,
               limit_predict_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False)


@pytest.mark.parametrize("first", ["validate", "test", "predict"])
@pytest.mark.parametrize("name", sorted(ZOO_SMALL))
def test_evaluate_then_fit_then_evaluate(name, first):
    torch.manual_seed(0)
    model = fraczoo.create_model(name, **ZOO_SMALL[name]["hparams"])
    data = fraczoo.create_datamodule(name, **ZOO_SMALL[name]["data"])
    getattr(L.Trainer(**TRAINER), first)(model, data)
    trainer = L.Trainer(**TRAINER)
    trainer.fit(model, data)
    assert trainer.global_step == 2 and torch.isfinite(trainer.callback_metrics["val_loss"])
    (metrics,) = L.Trainer(**TRAINER).validate(model, data, verbose=False)
    assert torch.isfinite(torch.tensor(metrics["val_loss"]))
