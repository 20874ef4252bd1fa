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


def test_beta_nll_gives_the_mean_the_mse_gradient():
    """β = 1: each value's NLL is weighted by σ² (held constant), so the mean's gradient is
    half the MSE's whatever σ; σ's own gradient still vanishes at σ = |x − μ|."""
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 4, 4, generator=gen)
    mask = (torch.rand(2, 1, 4, 4, generator=gen) > 0.5).float()
    mean = torch.rand(2, 3, 4, 4, generator=gen).requires_grad_()
    sigma = (torch.rand(2, 3, 4, 4, generator=gen) * 0.5 + 0.05).requires_grad_()
    gaussian_nll_hole(mean, sigma, image, mask, beta=1.0).backward()
    mse_mean = mean.detach().clone().requires_grad_()
    hole_mse(mse_mean, image, mask).backward()
    torch.testing.assert_close(mean.grad, mse_mean.grad / 2)
    assert float(mean.grad.abs().sum()) > 0
    # plain NLL scales the same gradient by 1/σ²: not the MSE's
    plain = mean.detach().clone().requires_grad_()
    gaussian_nll_hole(plain, sigma.detach(), image, mask).backward()
    assert not torch.allclose(plain.grad, mse_mean.grad / 2)
    exact = (image - mean.detach()).abs().clamp_min(1e-3).requires_grad_()
    gaussian_nll_hole(mean.detach(), exact, image, mask, beta=1.0).backward()
    torch.testing.assert_close(exact.grad, torch.zeros_like(exact), atol=1e-6, rtol=0)
