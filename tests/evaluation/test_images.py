"""Which images evaluate scores (evaluation/images.py): a checkpoint's held-out images, the
native size's refusals, upright images."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from impaint.cli import main
from tests.helpers import make_images


@pytest.mark.parametrize("native", [False, True])
def test_a_folder_a_checkpoint_trained_on_is_scored_on_its_held_out_images(
        tmp_path, image_folder, capsys, monkeypatch, native):
    """train holds out the last tenth of a folder (24 images, valid_images 8: 2); evaluate on
    that folder scores those two only, and says why, not the 22 the model trained on: also
    from another working directory than the one train was given a relative --data in."""
    from impaint.data import ImageFolder
    from impaint.evaluation.images import evaluation_images
    from impaint.train import train
    from tests.helpers import tiny_config

    monkeypatch.chdir(image_folder.parent)
    ckpt = train(tiny_config(image_folder.name, tmp_path / "run"), progress=False)
    monkeypatch.chdir(tmp_path / "run")
    out = tmp_path / "eval"
    rc = main(["evaluate", "--data", str(image_folder), "--folder", "--checkpoint", str(ckpt),
               "--methods", "impaint:last", "telea", "--families", "box", "--quiet",
               "--grid-images", "0", "--out", str(out)] + (["--native"] if native else []))
    assert rc == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["images"] == 2  # and the report says which two
    assert config["split"] == "a plain folder, the images after the first 22, held out of training"
    assert (f"impaint:last trained on the first 22 images of {image_folder}: scoring only the "
            "ones held out of training") in capsys.readouterr().out
    held = evaluation_images(image_folder, "valid", 32, True, False, None, skip=22).images
    assert torch.equal(held, ImageFolder(image_folder, 32).images[-2:])
    # --limit 0 is every image, as in train and reproduce
    assert len(evaluation_images(image_folder, "valid", 32, True, False, 0).images) == 24
    # Another folder (or a checkpoint trained elsewhere): every image.
    rc = main(["evaluate", "--data", str(image_folder), "--folder", "--methods", "telea",
               "--families", "box", "--quiet", "--grid-images", "0", "--out", str(out)])
    assert rc == 0
    assert json.loads((out / "results.json").read_text())["config"]["images"] == 24


def test_a_folder_with_split_subfolders_is_scored_on_valid_and_never_whole(tmp_path, capsys):
    """train reads train/ and validates on valid/; evaluate scores valid/ (4 images), and
    --folder, which would read train/ too (12 training images), is refused for that model."""
    from impaint.train import train
    from tests.helpers import make_images, tiny_config

    make_images(tmp_path / "photos" / "train", 12)
    make_images(tmp_path / "photos" / "valid", 4, seed=1)
    ckpt = train(tiny_config(tmp_path / "photos", tmp_path / "run"), progress=False)
    args = ["evaluate", "--data", str(tmp_path / "photos"), "--checkpoint", str(ckpt),
            "--families", "box", "--methods", "impaint:last", "--quiet", "--grid-images", "0",
            "--size", "32", "--out", str(tmp_path / "eval")]
    assert main(args) == 0
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["config"]["images"] == 4
    capsys.readouterr()
    assert main([*args, "--folder"]) == 2
    assert "--folder reads " in capsys.readouterr().err


@pytest.mark.parametrize("key", ["images", "train"])
def test_a_file_of_decoded_images_a_checkpoint_trained_on_is_scored_on_its_held_out_tenth(
        tmp_path, capsys, key):
    """A decode cache or crop set (`images` only, no splits): train holds out its last tenth,
    as of a folder; evaluate scores that tenth only (20 images: the last 2)."""
    from safetensors.torch import save_file

    from impaint.train import train
    from tests.helpers import tiny_config

    images = torch.randint(0, 256, (20, 3, 16, 16), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    data = tmp_path / "decoded.safetensors"
    save_file({key: images}, data)  # a decode cache, or a crop set of photos without splits
    ckpt = train(tiny_config(data, tmp_path / "run"), progress=False)
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(data), "--checkpoint", str(ckpt), "--size", "16",
                 "--methods", "impaint:last", "--families", "box", "--quiet",
                 "--grid-images", "0", "--out", str(out)]) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["images"] == 2 and config["split"] == (
        "a file of decoded images, the images after the first 18, held out of training")
    assert "trained on the first 18 images" in capsys.readouterr().out

def test_native_size_refuses_mixed_sizes(tmp_path, capsys):
    make_images(tmp_path / "mixed", 2, size=(40, 48))
    make_images(tmp_path / "mixed", 1, size=(50, 50), start=2)
    rc = main(["evaluate", "--data", str(tmp_path / "mixed"), "--folder", "--native", "--quiet",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "--native needs images of one size" in err and err.count("\n") == 1


def test_native_images_are_read_upright(tmp_path):
    from impaint.evaluation.images import native_images

    top = np.zeros((16, 24, 3), np.uint8)
    top[:8] = 255
    exif = Image.Exif()
    exif[0x0112] = 3  # stored upside down
    (tmp_path / "pics").mkdir()
    Image.fromarray(top[::-1].copy()).save(tmp_path / "pics" / "a.png", exif=exif)
    images = native_images(tmp_path / "pics", "valid", True, None).images
    assert torch.equal(images[0], torch.from_numpy(top).permute(2, 0, 1))
