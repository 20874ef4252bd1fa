import math

import numpy as np
import pytest
import torch

from impaint.evaluation.calibration import calibration_report, coverage, nll_hole, reliability


def test_nll_of_a_hand_made_case_equals_the_closed_form():
    mean, sigma = torch.zeros(1, 1, 2), torch.full((1, 1, 2), 0.5)
    target = torch.tensor([[[0.5, -1.0]]])
    hole = torch.ones(1, 1, 2)
    expected = np.mean([math.log(0.5) + d**2 / (2 * 0.25) + 0.5 * math.log(2 * math.pi)
                        for d in (0.5, -1.0)])
    assert nll_hole(mean, sigma, target, hole) == pytest.approx(expected, rel=1e-9)


def test_samples_from_the_predicted_gaussian_are_calibrated(tmp_path):
    g = torch.Generator().manual_seed(0)
    mean = torch.rand(20, 3, 16, 16, generator=g)
    sigma = 0.05 + 0.1 * torch.rand(20, 3, 16, 16, generator=g)
    target = mean + sigma * torch.randn(20, 3, 16, 16, generator=g)
    holes = (torch.rand(20, 1, 16, 16, generator=g) > 0.5).float()
    report = calibration_report(mean, sigma, target, holes, tmp_path / "rel.png")
    assert abs(report["coverage_68"] - 0.6827) < 0.02
    assert abs(report["coverage_95"] - 0.95) < 0.01
    assert (tmp_path / "rel.png").stat().st_size > 1000
    overconfident = calibration_report(mean, sigma / 3, target, holes)
    assert overconfident["coverage_95"] < 0.6 and overconfident["nll"] > report["nll"]


def test_coverage_and_reliability_curve():
    hole = torch.ones(1, 1, 4)
    mean, sigma = torch.zeros(1, 1, 4), torch.ones(1, 1, 4)
    target = torch.tensor([[[0.5, 1.5, -0.2, 3.0]]])
    assert coverage(mean, sigma, target, hole, 1.0) == 0.5
    # central intervals of 50 % and 90 %: |x - mu| / sigma up to z = 0.674 and 1.645
    levels, observed = reliability(np.array([0.1, 0.5, 1.0, 2.5]), np.array([0.5, 0.9]))
    assert np.array_equal(levels, [0.5, 0.9]) and np.array_equal(observed, [0.5, 0.75])
    # errors of a calibrated Gaussian: the observed coverage is the expected, on every level
    ratios = np.abs(np.random.default_rng(0).standard_normal(200_000))
    levels, observed = reliability(ratios)
    assert np.allclose(levels, np.linspace(0.05, 0.95, 19))
    assert np.abs(observed - levels).max() < 0.01


def test_evaluate_reports_calibration_for_probabilistic_checkpoints(image_folder, tmp_path,
                                                                   capsys):
    from impaint.model import save_checkpoint
    from impaint.cli import main
    from impaint.model import ImplicitInpainter, ModelConfig
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=1, probabilistic=True)
    ckpt = tmp_path / "prob.safetensors"
    save_checkpoint(ckpt, ImplicitInpainter(cfg), {"model_config": cfg.to_dict(),
                                                   "image_size": 32})
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(image_folder), "--checkpoint", str(ckpt),
                 "--methods", "impaint:prob", "--families", "box", "full", "--limit", "4",
                 "--grid-images", "0", "--out", str(out), "--quiet"]) == 0
    assert "Calibration of impaint:prob" in (out / "results.md").read_text()
    assert (out / "reliability_impaint_prob.png").exists()
    assert "![reliability of impaint:prob](reliability_impaint_prob.png)" in \
        (out / "results.md").read_text()
    rows = __import__("json").loads((out / "calibration_impaint_prob.json").read_text())
    assert [r["family"] for r in rows] == ["box", "box", "box", "full", "all"]
    assert all(0 <= r["coverage_95"] <= 1 for r in rows)


def test_the_sigma_error_correlation_needs_three_images():
    """Over two images a correlation is ±1 whatever σ does: reported as n/a."""
    from impaint.evaluation.calibration import _corr, sigma_error_correlation

    assert math.isnan(sigma_error_correlation([0.1, 0.2], [0.3, 0.1]))
    assert _corr(sigma_error_correlation([0.1, 0.2], [0.3, 0.1])) == "n/a"
    assert sigma_error_correlation([0.1, 0.2, 0.3], [0.1, 0.2, 0.35]) > 0.9
    assert _corr(-0.456) == "-0.46"
