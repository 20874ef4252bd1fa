"""What an output keeps of its input file (inference/image_original.py): alpha, bits, colour
profile, EXIF, as far as each format holds them."""

import numpy as np
import torch
from PIL import Image

from impaint.inference.image_original import Original, read_original
from impaint.inference.image_read import read_image
from impaint.inference.image_write import to_pil
from tests.helpers import save_mask


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
    from impaint.inference.image_write import output_notes, write_image

    assert huge.fit(".jpg").exif is None and huge.fit(".png").exif is huge.exif
    assert any("larger than a JPEG holds: dropped" in n for n in output_notes(huge, ".jpg"))
    assert write_image(torch.zeros(3, 8, 8), tmp_path / "o.jpg", huge) == tmp_path / "o.jpg"
    with Image.open(tmp_path / "o.jpg") as im:  # written, without it
        assert im.format == "JPEG" and im.size == (8, 8) and "exif" not in im.info
    assert read_original(tmp_path / "o.jpg").exif is None


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
