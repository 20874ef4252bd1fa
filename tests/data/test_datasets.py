import pytest
import torch

from impaint.data.datasets import CelebA, DataError, ImageFolder, celeba_files, open_dataset


def test_celeba_split_keeps_only_existing_files(celeba_tree):
    assert len(celeba_files(celeba_tree, "train")) == 30
    assert len(celeba_files(celeba_tree, "valid")) == 10
    assert len(celeba_files(celeba_tree, "test")) == 4  # 000044.jpg is listed but missing


def test_celeba_decodes_to_uint8_squares_and_caches(celeba_tree, tmp_path):
    cache = tmp_path / "cache"
    ds = CelebA(celeba_tree, "valid", size=16, cache_dir=cache)
    assert ds.images.shape == (10, 3, 16, 16) and ds.images.dtype == torch.uint8
    assert len(list(cache.glob("*.safetensors"))) == 1
    again = CelebA(celeba_tree, "valid", size=16, cache_dir=cache)
    assert torch.equal(again.images, ds.images)
    # A cache cut short (a full disk, another tool's crash) is decoded again and replaced.
    cached = next(cache.glob("*.safetensors"))
    cached.write_bytes(cached.read_bytes()[:100])
    assert torch.equal(CelebA(celeba_tree, "valid", size=16, cache_dir=cache).images, ds.images)
    assert cached.stat().st_size > 100
    item = ds[0]
    assert item.dtype == torch.float32 and 0 <= item.min() and item.max() <= 1


def test_half_size_copies_give_the_same_field_of_view(celeba_tree, tmp_path):
    from PIL import Image
    from impaint.data.datasets import load_square
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
    from impaint.data.datasets import load_square
    grey = np.linspace(0, 255, 24 * 24).reshape(24, 24).round().astype(np.uint8)
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "scan16.png")
    square = load_square(tmp_path / "scan16.png", 24)
    assert np.array_equal(square, np.repeat(grey[..., None], 3, -1))
    # A float TIFF (values in [0, 1], say) has no range to read it in: skipped, said why,
    # not trained on as a black square.
    from impaint.data.datasets import _load_or_none
    Image.fromarray(grey.astype(np.float32) / 255).save(tmp_path / "float.tif")
    assert _load_or_none((tmp_path / "float.tif", 24, None)) == \
        (None, "32-bit floating point; save it with 8 or 16 bits")


def test_unreadable_files_are_skipped_and_counted(image_folder, capsys, monkeypatch):
    (image_folder / "broken.png").write_bytes(b"not an image")
    ds = ImageFolder(image_folder, size=8)
    assert len(ds) == 24
    assert "skipped 1 unreadable image(s), e.g. " in capsys.readouterr().out
    monkeypatch.setattr("impaint.data.datasets._load_or_none", None)  # no decoding now
    assert len(ImageFolder(image_folder, size=8)) == 24  # from the decode cache: told again
    assert "skipped 1 unreadable image(s), e.g. " + str(image_folder / "broken.png") + \
        " (cannot identify image file)" in capsys.readouterr().out


def test_images_smaller_than_the_size_are_counted_as_enlarged(image_folder, capsys,
                                                               monkeypatch):
    from PIL import Image

    Image.new("RGB", (12, 10)).save(image_folder / "icon.png")  # 10 px square at most
    assert len(ImageFolder(image_folder, size=32)) == 25
    note = (f"warning: 1 image(s) smaller than 32 px were enlarged to it (blurry), e.g. "
            f"{image_folder / 'icon.png'} (10 px)")
    assert note in capsys.readouterr().out
    ImageFolder(image_folder, size=8)  # 10 px is enough for 8
    assert "enlarged" not in capsys.readouterr().out
    monkeypatch.setattr("impaint.data.datasets._load_or_none", None)  # from the cache:
    assert len(ImageFolder(image_folder, size=32)) == 25               # told again
    assert note in capsys.readouterr().out


def test_clear_errors(tmp_path, celeba_tree):
    with pytest.raises(DataError, match="not found"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="missing partition file"):
        CelebA(tmp_path / "empty")
    with pytest.raises(DataError, match="unknown split"):
        celeba_files(celeba_tree, "training")
    (tmp_path / "one.png").write_bytes(b"a picture, not a folder of them")
    with pytest.raises(DataError, match="one.png is a file: give a folder of images"):
        open_dataset(tmp_path / "one.png")


def test_a_safetensors_file_of_decoded_splits_is_a_data_set(tmp_path):
    from safetensors.torch import save_file
    from impaint.data.datasets import has_splits
    train = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    valid = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    path = tmp_path / "faces.safetensors"
    save_file({"train": train, "valid": valid}, path)
    assert has_splits(path)
    assert torch.equal(open_dataset(path, "train", 16).images, train)
    assert torch.equal(open_dataset(path, "valid", 16, limit=1).images, valid[:1])
    with pytest.raises(DataError, match=r"expected uint8 \(N, 3, 32, 32\)"):
        open_dataset(path, "train", 32)
    with pytest.raises(DataError, match="holds no 'test' images"):
        open_dataset(path, "test", 16)
    (tmp_path / "bad.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(DataError, match="cannot read image tensors"):
        open_dataset(tmp_path / "bad.safetensors", "train", 16)
    with pytest.raises(DataError, match="cannot read image tensors"):
        has_splits(tmp_path / "bad.safetensors")


def test_a_folder_with_train_and_valid_subfolders_is_read_by_split(tmp_path):
    """The photos' layout (BSDS500's): each split its own subfolder, so that training on the
    folder never reads its valid images, as it would reading it whole."""
    import numpy as np
    from PIL import Image
    from impaint.data.datasets import has_splits, split_files

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("valid", 2)):
        (tmp_path / "photos" / split).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), np.uint8)).save(
                tmp_path / "photos" / split / f"{split}{i}.png")
    root = tmp_path / "photos"
    assert has_splits(root) and not has_splits(root / "train")
    assert [p.name for p in split_files(root, "valid")] == ["valid0.png", "valid1.png"]
    assert torch.equal(open_dataset(root, "valid", 16).images, ImageFolder(root / "valid",
                                                                           16).images)
    assert open_dataset(root, "train", 16).images.shape == (3, 3, 16, 16)
    with pytest.raises(DataError, match=r"photos has no test/ folder \(its splits: train, "
                                        r"valid\)"):
        open_dataset(root, "test", 16)


def test_training_images_are_read_upright_and_a_decompression_bomb_is_skipped(tmp_path,
                                                                              monkeypatch):
    """As `impaint inpaint` reads a photo (EXIF orientation); a file over Pillow's pixel
    limit is one skipped image, not the end of the decoding."""
    import numpy as np
    from PIL import Image

    from impaint.data.datasets import _load_or_none, load_square

    top = np.zeros((8, 8, 3), np.uint8)
    top[:4] = 255  # white on top once turned upright (EXIF 3: stored upside down)
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(top[::-1].copy()).save(tmp_path / "phone.png", exif=exif)
    assert np.array_equal(load_square(tmp_path / "phone.png", 8), top)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 64 px: more than twice the limit
    square, why = _load_or_none((tmp_path / "phone.png", 8, None))
    assert square is None and "decompression bomb" in why.lower()
