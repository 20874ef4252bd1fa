import warnings

import pytest
import torch

from impaint.data.datasets import CelebA, DataError, ImageFolder, open_dataset
from impaint.notes import ImpaintWarning


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


def test_unreadable_files_are_skipped_and_counted(image_folder, monkeypatch):
    (image_folder / "broken.png").write_bytes(b"not an image")
    with pytest.warns(ImpaintWarning, match="skipped 1 unreadable image"):
        assert len(ImageFolder(image_folder, size=8)) == 24
    monkeypatch.setattr("impaint.data.decoded.load_or_none", None)  # no decoding now
    with pytest.warns(ImpaintWarning) as told:  # from the decode cache: told again
        assert len(ImageFolder(image_folder, size=8)) == 24
    assert [str(w.message) for w in told] == [
        f"skipped 1 unreadable image(s), e.g. {image_folder / 'broken.png'} (cannot identify "
        "image file)"]


def test_a_limit_decodes_only_the_first_readable_images_it_keeps(image_folder, monkeypatch,
                                                                  tmp_path):
    """`--limit 5`: the whole set's first 5, decoding 6 files (one of them unreadable), not
    all 25; the whole set's cache, once there, serves every limit without decoding."""
    import impaint.data.decoded as decoded

    (image_folder / "000001a.png").write_bytes(b"not an image")  # the third file, by name
    read = []
    load = decoded.load_or_none
    monkeypatch.setattr(decoded, "load_or_none", lambda job: read.append(job[0]) or load(job))
    with pytest.warns(ImpaintWarning, match="skipped 1 unreadable"):
        first = ImageFolder(image_folder, size=8, cache_dir=tmp_path / "c", limit=5).images
    assert len(read) == 6 and first.shape[0] == 5
    with pytest.warns(ImpaintWarning):
        whole = ImageFolder(image_folder, size=8, cache_dir=tmp_path / "c").images
    assert whole.shape[0] == 24 and torch.equal(first, whole[:5])
    read.clear()
    with pytest.warns(ImpaintWarning):
        again = ImageFolder(image_folder, size=8, cache_dir=tmp_path / "c", limit=7).images
    assert read == [] and torch.equal(again, whole[:7])
    # 0: all of them, as every command's --limit, from the cache or not
    with pytest.warns(ImpaintWarning):  # the cache's note, told again
        cached = ImageFolder(image_folder, size=8, cache_dir=tmp_path / "c", limit=0).images
    assert torch.equal(cached, whole)
    with pytest.warns(ImpaintWarning):
        fresh = ImageFolder(image_folder, size=8, cache_dir=tmp_path / "d", limit=0).images
    assert torch.equal(fresh, whole)


def test_images_smaller_than_the_size_are_counted_as_enlarged(image_folder, monkeypatch):
    from PIL import Image

    Image.new("RGB", (12, 10)).save(image_folder / "icon.png")  # 10 px square at most
    note = (f"1 image(s) smaller than 32 px were enlarged to it (blurry), e.g. "
            f"{image_folder / 'icon.png'} (10 px)")
    with pytest.warns(ImpaintWarning) as told:
        assert len(ImageFolder(image_folder, size=32)) == 25
    assert [str(w.message) for w in told] == [note]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 10 px is enough for 8: no note
        ImageFolder(image_folder, size=8)
    monkeypatch.setattr("impaint.data.decoded.load_or_none", None)  # from the cache:
    with pytest.warns(ImpaintWarning) as told:                           # told again
        assert len(ImageFolder(image_folder, size=32)) == 25
    assert [str(w.message) for w in told] == [note]


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
    # a checkpoint given as data: said as such, not as its hundred tensor names
    from impaint.model import ImplicitInpainter, save_checkpoint
    from tests.helpers import TINY
    save_checkpoint(tmp_path / "last.safetensors", ImplicitInpainter(TINY),
                    {"model_config": TINY.to_dict()})
    with pytest.raises(DataError) as error:
        open_dataset(tmp_path / "last.safetensors", "train", 16)
    assert str(error.value) == (f"{tmp_path / 'last.safetensors'} is a model checkpoint, not a "
                                "set of images: --data names images (a folder, CelebA, or a "
                                ".safetensors file `impaint crops` wrote)")
    with pytest.raises(DataError, match="cannot read image tensors"):
        has_splits(tmp_path / "bad.safetensors")


def test_decode_caches_past_the_budget_go_least_recently_used_first(celeba_tree, tmp_path,
                                                                   monkeypatch):
    import os

    cache = tmp_path / "cache"
    cache.mkdir()
    old = [cache / f"folder-16px-{i:016x}.safetensors" for i in range(3)]
    for i, path in enumerate(old):
        path.write_bytes(b"x" * 1000)
        os.utime(path, ns=(10**9 * (i + 1),) * 2)  # old[2] the most recently used of them
    other = cache / "notes.safetensors"  # not a decode cache's name: never counted or touched
    other.write_bytes(b"x" * 10**6)
    CelebA(celeba_tree, "valid", size=16, cache_dir=cache)  # within the budget: all kept
    assert all(p.exists() for p in old)
    used = next(cache.glob("celeba_valid-16px-*.safetensors"))
    os.utime(used, ns=(0, 0))  # as if unused for long...
    CelebA(celeba_tree, "valid", size=16, cache_dir=cache)  # ...but read now: the most recent
    assert used.stat().st_mtime_ns > 10**10
    small = CelebA(celeba_tree, "valid", size=8, cache_dir=tmp_path / "elsewhere")
    new_size = next((tmp_path / "elsewhere").glob("*")).stat().st_size
    # Room for the new cache, the one just used and one old one: the two older ones go.
    monkeypatch.setattr("impaint.data.decoded.CACHE_BUDGET",
                        new_size + used.stat().st_size + 1500)
    assert torch.equal(CelebA(celeba_tree, "valid", size=8, cache_dir=cache).images,
                       small.images)
    assert [p.exists() for p in old] == [False, False, True]
    assert used.exists() and other.exists()
    assert next(cache.glob("celeba_valid-8px-*.safetensors")).stat().st_size == new_size
    # Past the budget, but used within the day (a run's other split, a run beside it): kept.
    monkeypatch.setattr("impaint.data.decoded.CACHE_BUDGET", 1)
    CelebA(celeba_tree, "valid", size=4, cache_dir=cache)
    assert used.exists() and old[2].exists() is False  # used a day ago or more: gone
    lookalike = cache / "celeba-64px-train.safetensors"  # a user's own file, not a cache
    lookalike.write_bytes(b"x")
    os.utime(lookalike, ns=(0, 0))
    CelebA(celeba_tree, "valid", size=6, cache_dir=cache)
    assert lookalike.exists()


def test_an_image_edited_in_place_is_decoded_again(tmp_path):
    """The decode cache is keyed by each file's byte count and time, not its name alone: an
    image overwritten with other pixels is decoded again, not served stale from the cache.
    Uncompressed BMPs of one size keep their byte count, so the time tells that edit; a copy
    that keeps the old time (`cp -p`) is told by its byte count."""
    import os

    import numpy as np
    from PIL import Image

    folder, cache = tmp_path / "imgs", tmp_path / "cache"
    folder.mkdir()
    edited = folder / "1.bmp"

    def save(path, value, side=16):
        Image.fromarray(np.full((side, side, 3), value, np.uint8)).save(path)
    for i in range(3):
        save(folder / f"{i}.bmp", 40 * (i + 1))
    first = ImageFolder(folder, size=8, cache_dir=cache).images
    assert (first[1] == 80).all()
    known = edited.stat()
    save(edited, 200)
    later = known.st_mtime_ns + 10**9  # a later time, however coarse the file system's clock
    os.utime(edited, ns=(later, later))
    assert edited.stat().st_size == known.st_size
    second = ImageFolder(folder, size=8, cache_dir=cache).images
    assert (second[1] == 200).all() and torch.equal(second[[0, 2]], first[[0, 2]])
    save(edited, 90, side=24)  # other bytes, at the time the cache knows
    os.utime(edited, ns=(later, later))
    assert (ImageFolder(folder, size=8, cache_dir=cache).images[1] == 90).all()
