"""What a run goes on from: --resume and init= refuse settings given against theirs. The run
folder's own rules (--resume, --overwrite) are tested through the CLI: tests/test_cli.py."""

import dataclasses
import re

import pytest

from impaint.model import read_checkpoint
from impaint.train import TrainingError, train
from tests.helpers import TINY, tiny_config


def test_init_refuses_model_settings_that_differ_from_its_checkpoint(image_folder, tmp_path):
    """init= trains the checkpoint's own model: a model setting given against it is said,
    not silently dropped (as --resume says it)."""
    first = train(tiny_config(image_folder, tmp_path / "a"), progress=False)
    cfg = tiny_config(image_folder, tmp_path / "b", init=str(first))
    cfg.model = dataclasses.replace(TINY, depth=TINY.depth + 1)
    with pytest.raises(TrainingError, match=rf"init={re.escape(str(first))} trains its own "
                                            r"model as it is, .*model.depth 3 \(its: 2\)"):
        train(cfg, progress=False)
    assert not (tmp_path / "b").exists()  # before any file
    # Given at its default (--set model.width=48), against its 8: said all the same.
    from impaint.model import ModelConfig
    cfg.model = dataclasses.replace(TINY, width=ModelConfig().width)
    with pytest.raises(TrainingError, match=r"settings differ from it: model.width 48 \(its"):
        train(cfg, progress=False, given={"init", "model.width"})


def test_resume_refuses_settings_that_differ_from_the_runs_and_touches_nothing(
        image_folder, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(image_folder, out), progress=False)
    before = (out / "last.safetensors").read_bytes()
    changed = dataclasses.replace(tiny_config(image_folder, out, steps=4), batch=4, lr=5e-4)
    with pytest.raises(TrainingError, match=r"differs in batch 4 \(the run's: 8\), lr 0.0005 "
                                            r"\(the run's: 0.002\): leave those out, or start "
                                            r"a new run from its weights \(--set init="):
        train(changed, resume=True, progress=False)
    assert (out / "last.safetensors").read_bytes() == before
    # Longer, elsewhere and on a clock: what a resumed run may change. It trains on.
    longer = tiny_config(image_folder, out, steps=4, time_budget=600.0, device="cpu")
    assert read_checkpoint(train(longer, resume=True, progress=False))[1]["step"] == 4
