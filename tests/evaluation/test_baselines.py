import numpy as np
import pytest
import torch

from impaint.evaluation.baselines import BASELINES, EMPTY_FILL, opencv_radius
from impaint.data.masks import BoxMask, RandomMask, StrokesMask


def smooth_image(size=32, dtype=np.float32):
    """A colour gradient: every method that propagates should fill it well."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    return np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * xx * yy], -1).astype(dtype)


def masks(size=32):
    rng = torch.Generator().manual_seed(0)
    gens = [RandomMask(0.5), RandomMask(0.9), BoxMask(0.5), StrokesMask(0.4, "thick")]
    return [g(size, size, rng).numpy() for g in gens]


@pytest.mark.parametrize("name", sorted(BASELINES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_known_pixels_are_returned_exactly(name, dtype):
    rng = np.random.default_rng(0)
    image = rng.random((32, 32, 3)).astype(dtype)  # noise: any smoothing would show
    for mask in masks():
        out = BASELINES[name](image, mask)
        assert out.shape == image.shape and out.dtype == image.dtype
        known = mask.astype(bool)
        assert np.array_equal(out[known], image[known])
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_a_full_mask_gives_grey_and_an_empty_one_the_image(name):
    image = smooth_image()
    out = BASELINES[name](image, np.zeros((32, 32), np.float32))
    assert np.all(out == np.float32(EMPTY_FILL))
    assert np.array_equal(BASELINES[name](image, np.ones((32, 32), np.float32)), image)


@pytest.mark.parametrize("name", ["telea", "navier_stokes", "biharmonic"])
def test_propagating_methods_beat_the_mean_fill_on_a_smooth_image(name):
    image = smooth_image()
    mask = BoxMask(0.25)(32, 32, torch.Generator().manual_seed(1)).numpy()
    hole = mask == 0

    def err(out):
        return float(np.abs(out - image)[hole].mean())

    assert err(BASELINES[name](image, mask)) < 0.5 * err(BASELINES["mean_fill"](image, mask))


def test_mean_fill_uses_the_known_pixels_mean():
    image = smooth_image()
    mask = masks()[0]
    out = BASELINES["mean_fill"](image, mask)
    colour = image[mask.astype(bool)].mean(axis=0)
    assert np.allclose(out[mask == 0], colour)


def test_opencv_radius_is_3_px_at_32_px_and_scales():
    assert opencv_radius(32, 32) == 3
    assert opencv_radius(128, 128) == 12
    assert opencv_radius(4, 4) == 1
