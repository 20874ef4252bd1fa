"""Writing images back of their input's kind (inference/image_write.py): quality, 16-bit
grey with alpha."""

import re
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from impaint.inference.image_original import read_original
from impaint.inference.image_read import read_image


def test_lossy_outputs_are_written_at_quality_95(tmp_path):
    from impaint.inference.image_write import write_image

    from skimage import data

    photo = data.astronaut()[100:228, 150:278]
    image = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    jpeg = Image.open(write_image(image, tmp_path / "o.jpg"))
    assert jpeg.quantization[0][0] <= 2  # quality 95's luminance table; Pillow's 75 has 8
    Image.fromarray(photo).save(tmp_path / "default.webp")  # Pillow's default quality, 80
    errors = [np.abs(np.asarray(Image.open(p), np.float32) - photo).mean()
              for p in (write_image(image, tmp_path / "o.webp"), tmp_path / "default.webp")]
    assert errors[0] < 0.7 * errors[1]


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

    from impaint.inference.image_write import write_image

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


def test_write_image_refuses_what_it_cannot_write_in_one_line(tmp_path):
    from impaint.inference.image_read import InputError, read_image
    from impaint.inference.image_write import write_image

    image = torch.rand(3, 8, 10)
    back = read_image(write_image(image[None], tmp_path / "batch_of_one.png"))  # its image
    assert back.shape == (3, 8, 10) and (back - image).abs().max() <= 0.5 / 255 + 1e-6
    for bad, says in ((image * 255, "(a 0-255 image: image / 255)"),
                      (image - 1, "has values in [0, 1], got -"),
                      (torch.rand(2, 3, 8, 10), "(3, H, W) float tensor in [0, 1], got (2, 3"),
                      ((image * 255).byte(), "torch.uint8")):
        with pytest.raises(InputError, match=re.escape(says)):
            write_image(bad, tmp_path / "o.png")
    with pytest.raises(InputError, match="name the output .png"):
        write_image(image, tmp_path / "o.xyz")
    assert not list(tmp_path.glob("o.*"))
    # A fill that kept its gradient, or came out of bf16, is written as its float32 values.
    for odd in (image.clone().requires_grad_(), image.bfloat16()):
        again = read_image(write_image(odd, tmp_path / "odd.png"))
        assert (again - odd.detach().float()).abs().max() <= 0.5 / 255 + 1e-6


def test_encode_checks_as_write_image_does():
    from impaint.inference.image_original import Original
    from impaint.inference.image_read import InputError
    from impaint.inference.image_write import encode

    image = torch.rand(3, 8, 10)
    png = encode(image[None], Original())  # a batch of one: its image
    assert png.startswith(b"\x89PNG") and read_image(png).shape == (3, 8, 10)
    with pytest.raises(InputError, match=re.escape("(a 0-255 image: image / 255)")):
        encode(image * 255, Original())
    with pytest.raises(InputError, match="cannot write image.xyz: name the output .png"):
        encode(image, Original(), ".xyz")


def test_an_image_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A write stopped half-way (Ctrl-C, a full disk) leaves the earlier file as it was, and
    no partial file beside it."""
    from impaint.inference import image_write
    from impaint.inference.image_write import write_image

    write_image(torch.zeros(3, 8, 8), tmp_path / "o.png")
    before = (tmp_path / "o.png").read_bytes()

    def stopped(image, original, target, suffix):
        Path(target).write_bytes(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(image_write, "_save", stopped)
    with pytest.raises(KeyboardInterrupt):
        write_image(torch.ones(3, 8, 8), tmp_path / "o.png")
    assert (tmp_path / "o.png").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
