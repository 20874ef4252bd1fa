"""Decoding and writing image files (inference/image_files.py). What goes through the whole
`impaint inpaint` (grey, 16-bit, colour profiles, HEIC, alpha kept): test_files.py."""

from dataclasses import replace

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
    from impaint.inference.image_files import InputError

    Image.fromarray(np.zeros(hole.shape + (3,), np.uint8)).convert("LAB").save(
        tmp_path / "lab.tif")
    with pytest.raises(InputError, match=r"not a readable mask image: .*lab.tif \(conversion "):
        read_mask(tmp_path / "lab.tif")


def test_a_tiffs_layout_tags_are_not_copied_as_its_exif(tmp_path):
    """A TIFF's first tag block holds its layout and blobs (XMP, Photoshop, ICC) beside the
    camera's tags: an output keeps the camera's (Make, its Exif block), not the rest, so a
    JPEG output is not refused for an EXIF too large, and a PNG is not megabytes of tags."""
    exif = Image.Exif()
    exif[0x010F] = "Camera Co"
    exif[0x8769] = {0x9003: "2026:01:02 03:04:05"}
    exif[37724] = b"\1" * 200_000  # Photoshop's data
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(tmp_path / "scan.tif",
                                                          exif=exif.tobytes())
    kept = Image.Exif()
    kept.load(read_original(tmp_path / "scan.tif").exif)
    assert kept[0x010F] == "Camera Co" and kept.get_ifd(0x8769)[0x9003].startswith("2026")
    assert not {256, 257, 273, 279, 37724} & set(kept)  # size, strips, Photoshop: not EXIF
    huge = Original(exif=b"Exif\0\0" + b"\0" * 70_000)  # a PNG's eXIf has no 64 KB limit
    from impaint.inference.image_files import output_notes, write_image

    assert huge.fit(".jpg").exif is None and huge.fit(".png").exif is huge.exif
    assert any("larger than a JPEG holds: dropped" in n for n in output_notes(huge, ".jpg"))
    assert write_image(torch.zeros(3, 8, 8), tmp_path / "o.jpg", huge) == tmp_path / "o.jpg"
    with Image.open(tmp_path / "o.jpg") as im:  # written, without it
        assert im.format == "JPEG" and im.size == (8, 8) and "exif" not in im.info
    assert read_original(tmp_path / "o.jpg").exif is None


def test_16_bit_colour_is_read_at_16_bits_past_bytes_after_its_end(tmp_path):
    import cv2

    wide = (np.arange(24 * 32 * 3, dtype=np.uint16).reshape(24, 32, 3) * 29) | 1  # odd: 16-bit
    ok, png = cv2.imencode(".png", wide[..., ::-1])
    (tmp_path / "c16.png").write_bytes(png.tobytes() + b"\n")  # a stray newline after IEND
    assert read_original(tmp_path / "c16.png").bits == 16
    assert torch.equal((read_image(tmp_path / "c16.png") * 65535).round().to(torch.int64),
                       torch.from_numpy(wide.astype(np.int64)).permute(2, 0, 1))


def png_grey_alpha_16(grey: np.ndarray, alpha: np.ndarray) -> bytes:
    """A 16-bit grey+alpha PNG (colour type 4), which neither Pillow nor OpenCV writes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    h, w = grey.shape
    rows = np.dstack([grey, alpha]).astype(">u2").reshape(h, -1).view(np.uint8)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)  # filter 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16_bit_grey_with_alpha_comes_back_grey_at_16_bits(tmp_path):
    """Pillow opens a 16-bit grey+alpha PNG as RGBA and writes no such mode: the output is
    16-bit RGBA with R = G = B, its known pixels and alpha exact."""
    import cv2

    from impaint.inference.image_files import write_image

    grey = (np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 83) | 1
    alpha = np.full_like(grey, 65535)
    alpha[:, :4] = 3000
    (tmp_path / "ga16.png").write_bytes(png_grey_alpha_16(grey, alpha))
    original = read_original(tmp_path / "ga16.png")
    assert original.grey and original.bits == 16 and original.alpha.dtype == np.uint16
    image = read_image(tmp_path / "ga16.png")
    image[:, 10:14, 10:14] = torch.tensor([0.9, 0.1, 0.5])[:, None, None]  # a coloured "fill"
    out = cv2.imread(str(write_image(image, tmp_path / "o.png", original)), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (24, 32, 4)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()  # grey
    known = np.ones_like(grey, bool)
    known[10:14, 10:14] = False
    assert np.array_equal(out[..., 0][known], grey[known]) and np.array_equal(out[..., 3], alpha)
    from PIL import ImageCms  # a grey profile is not written on that RGBA (the PNG rules)

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    grey_icc = bytes(profile[:16] + b"GRAY" + profile[20:])
    written = write_image(image, tmp_path / "p.png", replace(original, icc=grey_icc))
    assert Image.open(written).info.get("icc_profile") is None


def test_a_cmyk_profile_is_not_written_into_an_rgb_output(tmp_path):
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).convert("CMYK").save(
        tmp_path / "print.jpg", icc_profile=bytes(profile[:16] + b"CMYK" + profile[20:]))
    assert read_original(tmp_path / "print.jpg").icc is None
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(tmp_path / "rgb.png",
                                                             icc_profile=bytes(profile))
    assert read_original(tmp_path / "rgb.png").icc == bytes(profile)  # an RGB one is kept
    assert read_image(tmp_path / "print.jpg").shape == (3, 24, 32)  # the profile unusable:
    # Pillow's own conversion


def test_16_bit_colour_read_at_8_bits_says_so_and_is_written_at_8(tmp_path, capsys):
    """A damaged IDAT checksum: OpenCV refuses the file, Pillow reads its 8 bits; the output
    is then 8-bit (not 16 bits of rounded values), and a note says why."""
    import cv2

    wide = (np.arange(24 * 32 * 3, dtype=np.uint16).reshape(24, 32, 3) * 29) | 1
    png = bytearray(cv2.imencode(".png", wide[..., ::-1])[1].tobytes())
    idat = png.index(b"IDAT")
    end = idat + 4 + int.from_bytes(png[idat - 4:idat], "big")
    png[end:end + 4] = bytes(b ^ 0xFF for b in png[end:end + 4])  # its CRC, wrong
    (tmp_path / "crc.png").write_bytes(bytes(png))
    image = read_image(tmp_path / "crc.png")
    assert "has 16-bit colour that cannot be decoded at 16 bits" in capsys.readouterr().err
    assert torch.equal((image * 255).round().to(torch.int64),
                       torch.from_numpy((wide >> 8).astype(np.int64)).permute(2, 0, 1))
    assert read_original(tmp_path / "crc.png").bits == 8
