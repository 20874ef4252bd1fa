import math

import pytest
import torch

from impaint.evaluation.metrics import PSNR_CAP, l1, mean_ci95, psnr, psnr_from_mse, ssim


def image(seed=0, size=16):
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(seed))


def test_psnr_of_an_image_with_itself_is_the_cap():
    x = image()
    assert psnr(x, x) == PSNR_CAP == 100.0
    assert psnr(x, x, torch.ones(1, 16, 16)) == PSNR_CAP
    assert psnr_from_mse(0.0) == PSNR_CAP


def test_psnr_of_a_known_perturbation_matches_the_formula():
    x = image() * 0.8
    d = 0.05
    assert psnr(x + d, x) == pytest.approx(-10 * math.log10(d * d), abs=1e-5)  # 26.02 dB
    # Perturb only the top half; over that region the MSE is d^2, over the image d^2 / 2.
    y, region = x.clone(), torch.zeros(1, 16, 16)
    y[:, :8] += d
    region[:, :8] = 1
    assert psnr(y, x, region) == pytest.approx(-10 * math.log10(d * d), abs=1e-5)
    assert psnr(y, x) == pytest.approx(-10 * math.log10(d * d / 2), abs=1e-5)


def test_l1_over_a_region_and_an_empty_region():
    x = image()
    region = torch.zeros(1, 16, 16)
    region[:, 4:] = 1
    y = x.clone()
    y[:, 4:] += 0.1
    assert l1(y, x, region) == pytest.approx(0.1, abs=1e-6)
    assert l1(y, x) == pytest.approx(0.1 * 12 / 16, abs=1e-6)
    assert math.isnan(psnr(y, x, torch.zeros(1, 16, 16)))
    assert math.isnan(l1(y, x, torch.zeros(1, 16, 16)))


def test_ssim_is_one_for_identical_images_and_near_zero_for_unrelated_ones():
    x = image(size=32)
    assert ssim(x, x) == pytest.approx(1.0)
    assert abs(ssim(image(1, 32), x)) < 0.1


def test_mean_ci95():
    mean, half = mean_ci95([1.0, 2.0, 3.0, float("nan")])  # NaNs ignored
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(1.96 * 1.0 / math.sqrt(3))
    assert mean_ci95([5.0]) == (5.0, 0.0)
    assert all(math.isnan(v) for v in mean_ci95([]))
