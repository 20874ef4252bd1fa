"""The pyramid's levels (inference/levels.py): hole distances, how many reductions, pulling
down, carrying up, a level's detail."""

import math

import pytest
import torch

from tests.helpers import box_mask, smooth_image
from impaint.inference.levels import (away_from_holes, detail_variance, hole_distance,
                                      levels_for, pull)
from impaint.inference.pyramid import Pyramid


def test_hole_distance_is_euclidean_to_the_nearest_known_pixel():
    mask = box_mask(9, 9, 2, 2, 5, 5)
    d = hole_distance(mask)[0, 0]
    assert d[0, 0] == 0 and d[4, 4] == pytest.approx(3.0) and d[2, 2] == pytest.approx(1.0)
    assert math.isinf(float(hole_distance(torch.zeros(1, 1, 4, 4)).max()))


@pytest.mark.parametrize("size, box, levels", [
    (32, 28, 0),  # the model's own size: never reduced
    (128, 4, 0),  # a small hole: within reach at full size
    (128, 40, 2),  # 20 px from known -> 10 -> 5: two reductions
    (512, 160, 4),  # 80 px -> 5 after four reductions
    (512, 256, 4),  # 128 px would need five: capped where the side would go under 32
    (512, 512, 4),  # nothing known: as coarse as min_side allows (512 / 2^4 = 32)
])
def test_the_holes_set_the_number_of_levels(size, box, levels):
    top = (size - box) // 2
    mask = box_mask(size, size, top, top, box, box)[0]
    assert levels_for(mask, Pyramid(reach=6.0)) == levels


def test_pull_keeps_a_block_known_if_any_pixel_is_and_averages_the_known_ones():
    image = torch.arange(16.0).view(1, 1, 4, 4)
    mask = torch.ones(1, 1, 4, 4)
    mask[..., 0, 0] = 0  # block (0, 0) keeps 1, 4, 5
    mask[..., 2:, 2:] = 0  # block (1, 1) has nothing known
    coarse, known = pull(image, mask)
    assert known[0, 0].tolist() == [[1, 1], [1, 0]]
    assert coarse[0, 0, 0, 0] == pytest.approx((1 + 4 + 5) / 3)
    assert coarse[0, 0, 1, 0] == pytest.approx((8 + 9 + 12 + 13) / 4)


@pytest.mark.parametrize("band", [0.0, 1.5, 4.0, 6.0])
def test_away_from_holes_is_the_distance_rule(band):
    g = torch.Generator().manual_seed(int(band * 10))
    masks = torch.cat([(torch.rand(1, 1, 40, 50, generator=g) > 0.05).float(),
                       box_mask(40, 50, 0, 10, 12, 30), box_mask(40, 50, 5, 5, 1, 1),
                       torch.ones(1, 1, 40, 50), torch.zeros(1, 1, 40, 50)])
    expected = (hole_distance(1 - masks) > band).float()
    assert torch.equal(away_from_holes(masks, band), expected)


def test_detail_variance_is_measured_on_known_pixels_away_from_holes():
    cfg = Pyramid(band=4.0)
    flat = torch.full((1, 3, 64, 64), 0.3)
    assert torch.equal(detail_variance(flat, torch.ones(1, 1, 64, 64), cfg),
                       torch.zeros(1, 3, 1, 1))
    # Columns alternating 0 / 1 in the red channel: every 2x2 block averages 0.5, so each
    # pixel strays by 0.5 from the coarse level carried up (variance 0.25).
    stripes = flat.clone()
    stripes[:, 0, :, 1::2], stripes[:, 0, :, ::2] = 1.0, 0.0
    mask = box_mask(64, 64, 8, 8, 16, 16)
    stripes[..., 8:24, 8:24] = torch.rand(1, 3, 16, 16)  # what is in a hole does not count
    v = detail_variance(stripes, mask, cfg)
    assert v.shape == (1, 3, 1, 1)
    assert 0.22 < float(v[0, 0]) < 0.28 and float(v[0, 1:].max()) < 1e-6


@pytest.mark.parametrize("size", [64, 63, 65, 127, 129])
def test_a_smooth_picture_has_no_detail_at_any_size(size):
    """The level below carried up is the picture itself, to a fraction of a grey level, on
    odd sides too (whose coarse level's last cell holds one row and one column)."""
    image = torch.nn.functional.interpolate(smooth_image(size // 4 + 1, size // 4 + 1),
                                            size=(size, size), mode="bicubic").clamp(0, 1)
    v = detail_variance(image, torch.ones(1, 1, size, size), Pyramid())
    assert float(v.mean().sqrt()) * 255 < 1.0  # 3.6-3.7 grey levels on odd sides, misaligned
