"""Decoding and writing image files (inference/image_files.py). What goes through the whole
`impaint inpaint` (grey, 16-bit, colour profiles, HEIC, alpha kept): test_files.py."""

import numpy as np
import pytest
import torch
from PIL import Image

from impaint.inference.image_files import Original, read_image, read_mask, read_original, to_pil
from tests.helpers import save_mask


@pytest.fixture
def hole():
    hole = np.zeros((24, 32), bool)
    hole[5:15, 8:20] = True
    return hole


def test_mask_files_are_white_equals_hole(hole, tmp_path):
    mask_path = tmp_path / "mask.png"
    save_mask(mask_path, hole)
    assert torch.equal(read_mask(mask_path)[0] == 0, torch.from_numpy(hole))
    assert torch.equal(read_mask(mask_path, invert=True)[0] == 1, torch.from_numpy(hole))


def test_a_16_bit_mask_is_read_by_its_16_bits(hole, tmp_path):
    """Pillow's own conversion clips 16-bit values at 255: a dark grey (known) would read as
    white (hole)."""
    mask = np.where(hole, 65535, 20000).astype(np.uint16)  # known: 30 % grey
    Image.fromarray(mask).save(tmp_path / "mask16.png")
    assert torch.equal(read_mask(tmp_path / "mask16.png")[0] == 0, torch.from_numpy(hole))


def test_masks_with_transparency_are_read_by_their_alpha(hole, tmp_path):
    """Red strokes on a transparent layer (a painting tool's export): painted = hole."""
    layer = np.zeros(hole.shape + (4,), np.uint8)
    layer[hole] = (255, 0, 0, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    assert torch.equal(read_mask(tmp_path / "layer.png")[0] == 0, torch.from_numpy(hole))
    assert torch.equal(read_mask(tmp_path / "layer.png", invert=True)[0] == 1,
                       torch.from_numpy(hole))
    # Opaque everywhere: the alpha says nothing, white = hole as for any mask.
    opaque = np.dstack([np.repeat((hole * 255).astype(np.uint8)[..., None], 3, -1),
                        np.full(hole.shape, 255, np.uint8)])
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    assert torch.equal(read_mask(tmp_path / "opaque.png")[0] == 0, torch.from_numpy(hole))


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo is read upright, as a browser shows it (and a mask is painted on it)."""
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # a white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(arr).save(tmp_path / "phone.png", exif=exif)
    upright = read_image(tmp_path / "phone.png")
    assert upright.shape == (3, 20, 10)
    assert bool((upright[:, :5] == 1).all()) and bool((upright[:, 5:] == 0).all())


def test_an_original_keeps_what_the_format_can_hold(tmp_path):
    """16-bit greyscale round-trips exactly through PNG; JPEG gets 8 bits and no alpha."""
    wide = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 80  # beyond 8 bits
    Image.fromarray(wide).save(tmp_path / "scan16.png")
    original = read_original(tmp_path / "scan16.png")
    assert original.grey and original.bits == 16 and original.alpha is None
    image = read_image(tmp_path / "scan16.png")
    assert np.array_equal(np.asarray(to_pil(image, original)), wide)
    alpha = np.full((24, 32), 7, np.uint8)
    assert original.fit(".jpg").bits == 8
    assert Original(alpha=alpha).fit(".jpg").alpha is None
    assert Original(alpha=alpha).fit(".webp").alpha is alpha
    wide_alpha = np.full((24, 32), 65535, np.uint16)
    wide_alpha[0] = 257 * 7  # a 16-bit colour cut-out written to WebP: 8-bit alpha, exactly
    webp = Original(alpha=wide_alpha, bits=16).fit(".webp")
    assert webp.bits == 8 and webp.alpha.dtype == np.uint8 and webp.alpha[0, 0] == 7
    assert Original(alpha=wide_alpha, bits=16).fit(".png").alpha is wide_alpha


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_colour_is_turned_upright_as_pillow_turns_8_bit(orientation, tmp_path):
    """OpenCV decodes 16-bit colour (Pillow cannot), ignoring EXIF orientation: our table of
    the eight orientations must turn it as Pillow's exif_transpose turns an 8-bit file."""
    import io

    import cv2

    gen = np.random.default_rng(orientation)
    wide = (gen.random((5, 7, 3)) * 65535).astype(np.uint16)
    ok, png = cv2.imencode(".png", wide[..., ::-1])
    im = Image.open(io.BytesIO(png.tobytes()))
    exif = im.getexif()
    exif[0x0112] = orientation
    small = Image.fromarray((wide >> 8).astype(np.uint8))  # the same picture at 8 bits
    small.save(tmp_path / "eight.png", exif=exif)
    from impaint.inference.image_files import _png_with

    (tmp_path / "wide.png").write_bytes(_png_with(png.tobytes(),
                                                  Original(exif=exif.tobytes())))
    upright8 = read_image(tmp_path / "eight.png")
    upright16 = read_image(tmp_path / "wide.png")
    assert upright16.shape == upright8.shape
    assert torch.equal((upright16 * 65535).round().to(torch.int64) >> 8,
                       (upright8 * 255).round().to(torch.int64))


def test_lossy_outputs_are_written_at_quality_95(tmp_path):
    from impaint.inference.image_files import write_image

    from skimage import data

    photo = data.astronaut()[100:228, 150:278]
    image = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    jpeg = Image.open(write_image(image, tmp_path / "o.jpg"))
    assert jpeg.quantization[0][0] <= 2  # quality 95's luminance table; Pillow's 75 has 8
    Image.fromarray(photo).save(tmp_path / "default.webp")  # Pillow's default quality, 80
    errors = [np.abs(np.asarray(Image.open(p), np.float32) - photo).mean()
              for p in (write_image(image, tmp_path / "o.webp"), tmp_path / "default.webp")]
    assert errors[0] < 0.7 * errors[1]


def test_a_broken_exif_block_is_dropped_quietly(tmp_path, tiny_checkpoint):
    """Pillow warns of it as it opens the file, then reads the pixels: `impaint inpaint` (a
    fresh process, Python's own warning filters) prints no library warning, keeps no EXIF."""
    import io
    import subprocess
    import sys

    buf = io.BytesIO()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(
        buf, format="JPEG", exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff\x01\x0f")
    (tmp_path / "broken.jpg").write_bytes(buf.getvalue())
    hole = np.zeros((20, 30), bool)
    hole[5:10, 5:12] = True
    save_mask(tmp_path / "mask.png", hole)
    done = subprocess.run([sys.executable, "-m", "impaint", "inpaint", str(tmp_path / "broken.jpg"),
                           "--mask", str(tmp_path / "mask.png"), "-o", str(tmp_path / "o.png"),
                           "--checkpoint", str(tiny_checkpoint)], capture_output=True, text=True)
    assert done.returncode == 0 and "EXIF" not in done.stderr, done.stderr
    assert read_original(tmp_path / "o.png").exif is None


def test_a_folder_named_like_an_image_is_said_to_be_a_folder(tmp_path):
    from impaint.inference.image_files import InputError

    (tmp_path / "shots.png").mkdir()
    with pytest.raises(InputError, match="image is a folder, not a file: .*shots.png$"):
        read_image(tmp_path / "shots.png")
    with pytest.raises(InputError, match="mask not found: .*none.png$"):
        read_mask(tmp_path / "none.png")
