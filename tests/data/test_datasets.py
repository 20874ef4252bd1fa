import pytest
import torch

from impaint.data.datasets import CelebA, DataError, ImageFolder, celeba_files, open_dataset


def test_celeba_split_keeps_only_existing_files(celeba_tree):
    assert len(celeba_files(celeba_tree, "train")) == 30
    assert len(celeba_files(celeba_tree, "valid")) == 10
    assert len(celeba_files(celeba_tree, "test")) == 4  # 000044.jpg is listed but missing


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
