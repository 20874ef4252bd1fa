import torch
import numpy as np
import pytest
from PIL import Image

from impaint.cli import main
from impaint.inference.demo import bundled_faces
from impaint.inference.pipeline import inpaint_with_std


def test_bundled_faces_are_model_sized_rgb():
    faces = bundled_faces(32)
    assert faces.shape == (6, 3, 32, 32)
    assert 0.2 < float(faces.mean()) < 0.8  # real faces, not the blank non-face LFW images


def test_demo_runs_end_to_end_with_the_shipped_model(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "demo.png" in out and "| box 0.5 |" in out
    assert Image.open(tmp_path / "demo.png").size[0] > 500
    assert "OpenCV Telea" in (tmp_path / "psnr.md").read_text()


def test_demo_on_a_user_image(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    import impaint.inference.demo as demo

    seen = []  # the (image, mask) shapes each fill is given

    def recorded(model, image, mask, *args, **kwargs):
        seen.append((tuple(image.shape), tuple(mask.shape)))
        return inpaint_with_std(model, image, mask, *args, **kwargs)
    monkeypatch.setattr(demo, "inpaint_with_std", recorded)
    picture = tmp_path / "me.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), np.uint8)).save(picture)
    assert main(["demo", "--image", str(picture), "--checkpoint", str(tiny_checkpoint),
                 "--out", str(tmp_path / "d")]) == 0
    # at its own size, with each mask of the large demo: not a 32-px square crop
    assert seen == [((1, 3, 50, 70), (1, 1, 50, 70))] * len(demo.LARGE_MASKS)
    assert (tmp_path / "d" / "large.png").exists()
    assert capsys.readouterr().out.startswith("me.png box 0.25: impaint ")


def test_demo_on_a_missing_image_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--image", str(tmp_path / "nope.jpg"), "--out", str(tmp_path)]) == 2
    assert "image not found" in capsys.readouterr().err


def test_large_demo_writes_one_row_per_picture_and_mask(tmp_path, monkeypatch, capsys,
                                                        tiny_checkpoint):
    import impaint.inference.demo as demo

    small = {"wide": torch.rand(1, 3, 40, 72), "tall": torch.rand(1, 3, 80, 48)}
    monkeypatch.setattr(demo, "large_photos", lambda: small)
    png = demo.run_large_demo(tmp_path, tiny_checkpoint)
    assert png == tmp_path / "large.png" and png.stat().st_size > 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("wide box 0.25: impaint ")


def test_telea_on_a_large_picture_runs_on_a_smaller_copy_known_pixels_exact():
    """Telea's time grows ~17x per doubling of the side: over the cap it runs on a copy,
    and its fill is carried up; under it, at full size."""
    import torch

    from impaint.inference.demo import telea_at_most

    image = torch.rand(3, 48, 300, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, 48, 300)
    mask[:, 10:30, 100:160] = 0
    filled, at = telea_at_most(image, mask, side=100)
    known = mask.bool().expand_as(image)
    assert at == 100 and filled.shape == image.shape
    assert torch.equal(filled[known], image[known])
    hole = filled[~known]
    assert 0.3 < float(hole.mean()) < 0.7 and float(hole.std()) > 0  # a fill, not a constant
    small, at = telea_at_most(image[:, :, :80], mask[:, :, :80], side=100)
    assert at is None and small.shape == (3, 48, 80)
