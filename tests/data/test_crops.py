import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from impaint.cli import main
from impaint.data.crops import build_crop_set, random_crops
from impaint.data.datasets import DataError, open_dataset
from impaint.notes import ImpaintWarning
from tests.helpers import make_images


def test_random_crops_are_seeded_resized_and_drawn_at_every_scale():
    # A 200-px image whose columns count up: a crop's column span tells its scale.
    ramp = np.tile(np.linspace(0, 255, 200).astype(np.uint8)[None, :, None], (120, 1, 3))
    image = Image.fromarray(ramp)
    a = random_crops(image, 50, 16, np.random.default_rng(0))
    b = random_crops(image, 50, 16, np.random.default_rng(0))
    assert a.shape == (50, 16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    spans = a[:, 8, -1, 0].astype(int) - a[:, 8, 0, 0].astype(int)
    assert spans.min() < 40 and spans.max() > 100  # close-ups and near-whole-image views


def test_crop_set_has_train_and_valid_that_training_reads(tmp_path, celeba_tree):
    photos = tmp_path / "photos"
    make_images(photos / "train", 3, size=(64, 80))
    make_images(photos / "valid", 2, size=(64, 80), seed=1)
    out = tmp_path / "crops.safetensors"
    counts = build_crop_set(out, 16, celeba_tree, photos, face_crops=2, photo_crops=4)
    assert counts == {"train": 30 * 2 + 3 * 4, "valid": 10 * 2 + 2 * 4}
    again = tmp_path / "again.safetensors"
    build_crop_set(again, 16, celeba_tree, photos, face_crops=2, photo_crops=4)
    assert all(torch.equal(v, load_file(again)[k]) for k, v in load_file(out).items())
    assert open_dataset(out, "valid", 16).images.shape == (28, 3, 16, 16)


def test_a_photo_folder_with_train_alone_is_read_whole_as_train_is(tmp_path):
    photos = tmp_path / "photos"
    make_images(photos / "train", 3, size=(64, 80))
    make_images(photos, 2, size=(64, 80), seed=1)  # beside train/: no valid/ to keep out
    counts = build_crop_set(tmp_path / "c.safetensors", 16, None, photos, photo_crops=4)
    assert counts == {"train": 5 * 4}  # not 3 * 4: the two beside train/ too


def test_crops_cli_and_its_errors(tmp_path, capsys):
    make_images(tmp_path / "pics", 2, size=(40, 40))
    out = tmp_path / "c.safetensors"
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out),
                 "--size", "16", "--photo-crops", "3"]) == 0
    assert ("6 train crops of 16 px (train on it: impaint train --data "
            f"{out} --size 16)") in capsys.readouterr().out
    stamp = out.stat().st_mtime_ns
    again = ["crops", "--photos", str(tmp_path / "pics"), "-o", str(out), "--size", "16"]
    assert main(again) == 2  # an earlier set is never replaced by accident
    assert "exists: give --overwrite to replace it" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == stamp
    assert main(again + ["--overwrite"]) == 0 and out.stat().st_mtime_ns != stamp
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(tmp_path / "c.png")]) == 2
    assert "a crop set is a .safetensors file (e.g. c.safetensors)" in capsys.readouterr().err
    # an earlier set of another size: what to do, in one line
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(tmp_path / "d.safetensors"),
                 "--include", str(out)]) == 2
    assert (f"{out} holds 16-px crops, and this set is 32 px: give --size 16"
            in capsys.readouterr().err)
    assert main(["crops", "-o", str(tmp_path / "other.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("impaint: error: nothing to crop") and err.count("\n") == 1
    with pytest.raises(DataError, match="image folder not found"):
        build_crop_set(tmp_path / "new.safetensors", 16, photos=tmp_path / "missing")


def test_close_ups_from_large_images_mixed_with_an_earlier_set(tmp_path, capsys):
    make_images(tmp_path / "small", 3, size=(40, 40), seed=1)
    first = tmp_path / "first.safetensors"
    assert main(["crops", "--photos", str(tmp_path / "small"), "-o", str(first),
                 "--size", "16", "--photo-crops", "3"]) == 0
    mixed_folder = tmp_path / "mixed"
    make_images(mixed_folder, 2, size=(96, 96))
    make_images(mixed_folder / "x", 3, size=(40, 40), seed=2)
    for f in (mixed_folder / "x").iterdir():
        f.rename(mixed_folder / f"small_{f.name}")
    (mixed_folder / "x").rmdir()
    out = tmp_path / "mixed.safetensors"
    # Only the two 96-px images are cropped (--min-side 64), and the first set comes along.
    assert main(["crops", "--photos", str(mixed_folder), "-o", str(out), "--size", "16",
                 "--photo-crops", "5", "--max-zoom", "2", "--min-side", "64",
                 "--include", str(first)]) == 0
    assert "19 train crops" in capsys.readouterr().out
    mixed = {bytes(c) for c in load_file(out)["train"].numpy()}
    assert {bytes(c) for c in load_file(first)["train"].numpy()} <= mixed


def test_max_zoom_keeps_crops_near_native_resolution():
    ramp = np.tile(np.linspace(0, 255, 200).astype(np.uint8)[None, :, None], (120, 1, 3))
    crops = random_crops(Image.fromarray(ramp), 50, 16, np.random.default_rng(0), max_zoom=2)
    spans = crops[:, 8, -1, 0].astype(int) - crops[:, 8, 0, 0].astype(int)
    # A 32-px-wide crop of a 200-px ramp over 255 levels spans at most ~41 levels.
    assert spans.max() <= 42 and spans.min() >= 15


def test_crop_options_errors(tmp_path, capsys):
    make_images(tmp_path / "pics", 2, size=(40, 40))
    out = tmp_path / "c.safetensors"
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out),
                 "--size", "16", "--min-side", "64"]) == 2
    assert "is 64 px a side" in capsys.readouterr().err
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out),
                 "--max-zoom", "0.5"]) == 2
    assert "--max-zoom must be at least 1" in capsys.readouterr().err
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out),
                 "--max-zoom", "nan"]) == 2  # once: no limit at all, silently
    assert "--max-zoom must be at least 1 (a crop is at least 32 px), got nan" in \
        capsys.readouterr().err
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out),
                 "--size", "100000"]) == 2
    assert "crop size must be from 8 to 1024 px" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"not a crop set")
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out), "--size", "16",
                 "--include", str(tmp_path / "junk.safetensors"),
                 str(tmp_path / "junk.safetensors")]) == 2
    assert "--include names the same crop set twice" in capsys.readouterr().err
    assert main(["crops", "--photos", str(tmp_path / "pics"), "-o", str(out), "--size", "16",
                 "--include", str(tmp_path / "junk.safetensors")]) == 2
    assert "is not a crop set" in capsys.readouterr().err
    assert not out.exists()


def test_a_mistyped_source_is_said_before_any_crop_is_made(tmp_path, capsys, celeba_tree,
                                                           monkeypatch):
    """A wrong --photos was found only after CelebA's train split had been cropped."""
    import impaint.data.crops as crops

    made = []
    monkeypatch.setattr(crops, "crops_of", lambda *a, **k: made.append(a))
    assert main(["crops", "--celeba", str(celeba_tree), "--photos", str(tmp_path / "phtos"),
                 "-o", str(tmp_path / "c.safetensors")]) == 2
    assert "image folder not found" in capsys.readouterr().err and made == []


@pytest.mark.parametrize("w,h,size", [(60, 48, 48), (40, 30, 32), (1080, 720, 768)])
def test_an_image_whose_short_side_is_at_most_the_size_gives_whole_height_crops(w, h, size):
    """exp(log(n)) > n for many n (48, 30, 720...): the crop's side is the short side, never
    more, so such an image is not dropped as unreadable."""
    crops = random_crops(Image.new("RGB", (w, h), (9, 99, 199)), 3, size,
                         np.random.default_rng(0))
    assert crops.shape == (3, size, size, 3) and (crops == (9, 99, 199)).all()


def test_crops_are_upright_skip_what_cannot_be_read_and_refuse_a_negative_seed(tmp_path,
                                                                               capsys):
    from impaint.data.crops import crops_of

    top = np.zeros((8, 8, 3), np.uint8)  # 8 px: the crop is the whole image
    top[:4] = 255  # white above, black below, once turned upright (EXIF 3: upside down)
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(top[::-1].copy()).save(tmp_path / "a.png", exif=exif)
    (tmp_path / "b.png").write_text("not an image")
    with pytest.warns(ImpaintWarning, match=r"skipped 1 unreadable image\(s\), e.g. b.png"):
        crops = crops_of([tmp_path / "a.png", tmp_path / "b.png"], 1, 8, 0, "photos", workers=1)
    assert crops.shape == (1, 3, 8, 8)
    assert (crops[0, :, :4] == 255).all() and (crops[0, :, 4:] == 0).all()  # white on top
    with pytest.raises(DataError, match="--seed must be 0 or more, got -1"):
        build_crop_set(tmp_path / "c.safetensors", 8, photos=tmp_path, seed=-1)
    assert not (tmp_path / "c.safetensors").exists()
