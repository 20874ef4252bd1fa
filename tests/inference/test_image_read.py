"""Decoding image and mask files (inference/image_read.py). What goes through the whole
`impaint inpaint` (grey, 16-bit, colour profiles, HEIC, alpha kept): test_files.py."""

import numpy as np
import pytest
import torch
from PIL import Image

from impaint.inference.image_original import Original, read_original
from impaint.inference.image_read import InputError, read_image, read_mask
from impaint.notes import ImpaintWarning
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


def test_a_files_bytes_read_as_the_file(hole, tmp_path):
    save_mask(tmp_path / "mask.png", hole)
    data = (tmp_path / "mask.png").read_bytes()
    assert torch.equal(read_mask(data), read_mask(tmp_path / "mask.png"))
    assert torch.equal(read_image(data), read_image(tmp_path / "mask.png"))
    assert repr(read_original(bytearray(data))) == repr(read_original(tmp_path / "mask.png"))
    with pytest.raises(InputError, match="not a readable image: image"):
        read_image(b"not an image")


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
    from impaint.inference.image_write import _png_with

    (tmp_path / "wide.png").write_bytes(_png_with(png.tobytes(),
                                                  Original(exif=exif.tobytes())))
    upright8 = read_image(tmp_path / "eight.png")
    upright16 = read_image(tmp_path / "wide.png")
    assert upright16.shape == upright8.shape
    assert torch.equal((upright16 * 65535).round().to(torch.int64) >> 8,
                       (upright8 * 255).round().to(torch.int64))


def test_a_folder_named_like_an_image_is_said_to_be_a_folder(tmp_path):
    from impaint.inference.image_read import InputError

    (tmp_path / "shots.png").mkdir()
    with pytest.raises(InputError, match="image is a folder, not a file: .*shots.png$"):
        read_image(tmp_path / "shots.png")
    with pytest.raises(InputError, match="mask not found: .*none.png$"):
        read_mask(tmp_path / "none.png")


def test_a_mask_is_read_by_its_alpha_only_where_it_is_a_painted_layer(hole, tmp_path):
    """An opaque white-on-black mask stays white = hole with one pixel at alpha 254, or with
    a transparent margin (a canvas grown by a column): transparent is then known."""
    grey = np.repeat((hole * 255).astype(np.uint8)[..., None], 3, -1)
    alpha = np.full(hole.shape, 255, np.uint8)
    alpha[0, 0] = 254
    Image.fromarray(np.dstack([grey, alpha])).save(tmp_path / "nearly.png")
    assert torch.equal(read_mask(tmp_path / "nearly.png")[0] == 0, torch.from_numpy(hole))
    alpha[:, -1] = 0
    Image.fromarray(np.dstack([grey, alpha])).save(tmp_path / "margin.png")
    assert torch.equal(read_mask(tmp_path / "margin.png")[0] == 0, torch.from_numpy(hole))
    layer = np.zeros(hole.shape + (4,), np.uint8)  # black strokes, soft edges, on nothing
    layer[hole] = (0, 0, 0, 200)
    Image.fromarray(layer).save(tmp_path / "black.png")
    assert torch.equal(read_mask(tmp_path / "black.png")[0] == 0, torch.from_numpy(hole))
    layer[hole] = (255, 0, 0, 255)  # red and yellow strokes: dark and light, but colours
    layer[:, 14:][hole[:, 14:]] = (255, 255, 0, 255)
    Image.fromarray(layer).save(tmp_path / "colours.png")
    assert torch.equal(read_mask(tmp_path / "colours.png")[0] == 0, torch.from_numpy(hole))
    rng = np.random.default_rng(0)  # an object cut out of a grey photo: every shade
    shade = rng.integers(0, 256, int(hole.sum()))
    layer[hole] = np.stack([shade, shade, shade, np.full_like(shade, 255)], -1).astype(np.uint8)
    Image.fromarray(layer).save(tmp_path / "cutout.png")
    assert torch.equal(read_mask(tmp_path / "cutout.png")[0] == 0, torch.from_numpy(hole))


def test_a_mode_pillow_cannot_convert_is_one_line_naming_the_file(hole, tmp_path):
    from impaint.inference.image_read import InputError

    Image.fromarray(np.zeros(hole.shape + (3,), np.uint8)).convert("LAB").save(
        tmp_path / "lab.tif")
    with pytest.raises(InputError, match=r"not a readable mask image: .*lab.tif \(conversion "):
        read_mask(tmp_path / "lab.tif")


def test_16_bit_colour_is_read_at_16_bits_past_bytes_after_its_end(tmp_path):
    import cv2

    wide = (np.arange(24 * 32 * 3, dtype=np.uint16).reshape(24, 32, 3) * 29) | 1  # odd: 16-bit
    ok, png = cv2.imencode(".png", wide[..., ::-1])
    (tmp_path / "c16.png").write_bytes(png.tobytes() + b"\n")  # a stray newline after IEND
    assert read_original(tmp_path / "c16.png").bits == 16
    assert torch.equal((read_image(tmp_path / "c16.png") * 65535).round().to(torch.int64),
                       torch.from_numpy(wide.astype(np.int64)).permute(2, 0, 1))


def test_16_bit_colour_read_at_8_bits_says_so_and_is_written_at_8(tmp_path):
    """A damaged IDAT checksum: OpenCV refuses the file, Pillow reads its 8 bits; the output
    is then 8-bit (not 16 bits of rounded values), and a note says why."""
    import cv2

    wide = (np.arange(24 * 32 * 3, dtype=np.uint16).reshape(24, 32, 3) * 29) | 1
    png = bytearray(cv2.imencode(".png", wide[..., ::-1])[1].tobytes())
    idat = png.index(b"IDAT")
    end = idat + 4 + int.from_bytes(png[idat - 4:idat], "big")
    png[end:end + 4] = bytes(b ^ 0xFF for b in png[end:end + 4])  # its CRC, wrong
    (tmp_path / "crc.png").write_bytes(bytes(png))
    with pytest.warns(ImpaintWarning, match="has 16-bit colour that cannot be decoded at 16"):
        image = read_image(tmp_path / "crc.png")
    assert torch.equal((image * 255).round().to(torch.int64),
                       torch.from_numpy((wide >> 8).astype(np.int64)).permute(2, 0, 1))
    assert read_original(tmp_path / "crc.png").bits == 8
