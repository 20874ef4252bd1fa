"""The pipeline's settings (inference/pyramid.py): the slips a Pyramid refuses."""

import pytest
import torch

from tests.helpers import box_mask, smooth_image
from impaint.inference.pipeline import inpaint
from impaint.inference.pyramid import Pyramid


def test_flips_one_is_the_plain_fill_and_others_are_refused(model):
    image, mask = smooth_image(64, 48), box_mask(64, 48, 10, 10, 30, 20)
    plain = inpaint(model, image, mask)
    assert torch.equal(inpaint(model, image, mask, cfg=Pyramid(flips=1)), plain)
    for bad in (3, 8.0, "8", True):  # not silently taken for 8 (or 1)
        with pytest.raises(ValueError, match=f"flips must be one of 1, 2, 4, 8, got {bad!r}"):
            inpaint(model, image, mask, cfg=Pyramid(flips=bad))


def test_rounds_must_be_a_whole_number_of_zero_or_more(model):
    image, mask = smooth_image(32, 32), box_mask(32, 32, 10, 10, 5, 5)
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match=f"rounds must be a whole number >= 0, got {bad!r}"):
            inpaint(model, image, mask, cfg=Pyramid(rounds=bad))
