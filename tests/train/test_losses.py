import math

import pytest
import torch

from impaint.train.losses import gaussian_nll_hole, hole_mse, inpainting_loss, total_variation


def test_hole_mse_counts_only_missing_pixels():
    image, pred = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    pred[..., 0, 0] = 5.0  # a known pixel: must not count
    assert float(hole_mse(pred, image, mask)) == pytest.approx(1.0)


def test_total_variation_of_a_step():
    image = torch.zeros(1, 1, 2, 2)
    image[..., :, 1] = 1.0  # a vertical edge: horizontal differences of 1, vertical of 0
    assert float(total_variation(image)) == pytest.approx(1.0)


def test_gaussian_nll_closed_form_and_loss_switch():
    image, mean = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 0.0]]]])
    sigma, mask = torch.full((1, 1, 1, 2), 2.0), torch.zeros(1, 1, 1, 2)
    expected = math.log(2.0) + 0.5 * math.log(2 * math.pi) + (1 / 8) / 2
    assert float(gaussian_nll_hole(mean, sigma, image, mask)) == pytest.approx(expected)
    loss, parts = inpainting_loss(mean, mean, image, mask, 1.0, 0.0, sigma=sigma)
    assert float(loss) == pytest.approx(expected) and "nll" in parts
    loss, parts = inpainting_loss(mean, mean, image, mask, 1.0, 0.0)
    assert float(loss) == pytest.approx(0.5) and "nll" not in parts
