"""set_up: the data a run holds out, init='s weights, and where bf16 autocast runs."""

import dataclasses

import pytest
import torch

from impaint.model import read_checkpoint
from impaint.train import TrainingError, train
from tests.helpers import tiny_config


def test_a_plain_folder_holds_out_a_tenth_for_validation(image_folder, tmp_path, capsys):
    train(tiny_config(image_folder, tmp_path / "r", steps=1), progress=False)
    assert "22 train images" in capsys.readouterr().out  # 24 images, 2 held out


def test_a_folder_of_one_image_says_it_needs_two(tmp_path):
    from tests.helpers import make_images

    make_images(tmp_path / "one", 1)
    with pytest.raises(TrainingError, match=r"one has 1 image: training needs at least 2"):
        train(tiny_config(tmp_path / "one", tmp_path / "run"), progress=False)
    make_images(tmp_path / "two", 2)
    with pytest.raises(TrainingError, match=r"^--limit 1 leaves 1 image: training needs"):
        train(tiny_config(tmp_path / "two", tmp_path / "run", limit=1), progress=False)


def test_init_fine_tunes_from_a_checkpoints_weights_and_config(image_folder, tmp_path):
    first = train(tiny_config(image_folder, tmp_path / "a"), progress=False)
    # lr = 0: the fine-tuned run must end with exactly the weights it started from.
    cfg = tiny_config(image_folder, tmp_path / "b", init=str(first), lr=0.0)
    cfg.model = cfg.model.__class__()  # the default config: init must replace it
    tuned = train(cfg, progress=False)
    a, b = read_checkpoint(first), read_checkpoint(tuned)
    assert b[1]["model_config"] == a[1]["model_config"] and b[1]["step"] == 2
    assert all(torch.equal(v, b[0][k]) for k, v in a[0].items() if k.startswith("model."))


@pytest.mark.parametrize("native", [False, True])
def test_bf16_autocast_runs_only_where_the_device_has_native_bf16(image_folder, tmp_path,
                                                                  monkeypatch, capsys, native):
    """amp=True (the default) is bf16 on bf16 hardware, fp32 elsewhere: emulated bf16 trained
    18x slower than fp32 on an AVX2 CPU."""
    monkeypatch.setattr("impaint.train.run.native_bf16", lambda device: native)
    fp32 = read_checkpoint(train(tiny_config(image_folder, tmp_path / "a"), progress=False))[0]
    capsys.readouterr()
    cfg = dataclasses.replace(tiny_config(image_folder, tmp_path / "b"), amp=True)
    asked = read_checkpoint(train(cfg, progress=False))[0]
    assert all(torch.equal(fp32[k], asked[k]) for k in fp32) == (not native)
    said = capsys.readouterr().out
    assert ("fp32 (this CPU has no native bf16)" in said) == (not native)
    assert (", bf16\n" in said) == native
