def test_half_size_copies_give_the_same_field_of_view(celeba_tree, tmp_path):
    from PIL import Image
    from impaint.data.image import load_square
    full = celeba_tree / "img_align_celeba" / "000001.jpg"
    half = tmp_path / "half.png"
    Image.open(full).resize((89, 109), Image.Resampling.LANCZOS).save(half)
    a = load_square(full, 16, 140 / 178).astype(float)
    b = load_square(half, 16, 140 / 178).astype(float)
    assert abs(a - b).mean() < 6  # same crop: only resampling noise differs


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    """Pillow's own RGB conversion clips 16-bit values at 255 (a 16-bit scan reads white)."""
    import numpy as np
    from PIL import Image
    from impaint.data.image import load_square
    grey = np.linspace(0, 255, 24 * 24).reshape(24, 24).round().astype(np.uint8)
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "scan16.png")
    square = load_square(tmp_path / "scan16.png", 24)
    assert np.array_equal(square, np.repeat(grey[..., None], 3, -1))
    # A float TIFF (values in [0, 1], say) has no range to read it in: skipped, said why,
    # not trained on as a black square.
    from impaint.data.image import load_or_none
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "float.tif")
    assert load_or_none((tmp_path / "float.tif", 24, None)) == \
        (None, "32-bit floating point; save it with 8 or 16 bits")


def test_training_images_are_read_upright_and_a_decompression_bomb_is_skipped(tmp_path,
                                                                              monkeypatch):
    """As `impaint inpaint` reads a photo (EXIF orientation); a file over Pillow's pixel
    limit is one skipped image, not the end of the decoding."""
    import numpy as np
    from PIL import Image

    from impaint.data.image import load_or_none, load_square

    top = np.zeros((8, 8, 3), np.uint8)
    top[:4] = 255  # white on top once turned upright (EXIF 3: stored upside down)
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(top[::-1].copy()).save(tmp_path / "phone.png", exif=exif)
    assert np.array_equal(load_square(tmp_path / "phone.png", 8), top)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 64 px: more than twice the limit
    square, why = load_or_none((tmp_path / "phone.png", 8, None))
    assert square is None and "decompression bomb" in why.lower()
