import math

import numpy as np
import pytest
import torch

from impaint.evaluation.loglik import context_mask, gaussian_loglik, loglik_per_image, loglik_table
from impaint.model import ImplicitInpainter, ModelConfig


def test_loglik_of_a_hand_made_gaussian_equals_the_closed_form():
    mean = torch.zeros(1, 1, 1, 2)
    sigma = torch.tensor([[[[1.0, 0.5]]]])
    target = torch.tensor([[[[1.0, 0.0]]]])
    closed = (-0.5 * math.log(2 * math.pi) - 0.5) + (-math.log(0.5) - 0.5 * math.log(2 * math.pi))
    assert float(gaussian_loglik(mean, sigma, target)[0]) == pytest.approx(closed, rel=1e-12)


def test_context_sets_are_at_most_30_percent_and_seeded():
    fractions = [float(context_mask(32, torch.Generator().manual_seed(s)).mean())
                 for s in range(50)]
    assert 0 <= min(fractions) and max(fractions) <= 0.3 and np.std(fractions) > 0.05
    a = context_mask(16, torch.Generator().manual_seed(3))
    assert torch.equal(a, context_mask(16, torch.Generator().manual_seed(3)))


def test_loglik_needs_a_probabilistic_model_and_reports_both_scalings():
    small = ModelConfig(width=8, coarse_width=12, hidden=16, depth=1)
    with pytest.raises(ValueError, match="probabilistic"):
        loglik_per_image(ImplicitInpainter(small), torch.rand(2, 3, 8, 8))
    model = ImplicitInpainter(ModelConfig(**{**small.to_dict(), "probabilistic": True}))
    values = loglik_per_image(model, torch.rand(3, 3, 8, 8))
    assert values.shape == (3,) and np.isfinite(values).all()
    table = loglik_table("m", values, (3, 8, 8))
    assert f"{values.mean() - 192 * math.log(2):.1f}" in table and "per 8×8 image" in table
    # The published figures sum 32x32x3 values: beside our 8x8 ones they would mislead.
    assert "ConvCNP" not in table and "not comparable with a sum over 192" in table
    assert "ConvCNP (published" in loglik_table("m", values, (3, 32, 32))


def test_evaluate_loglik_names_the_split_it_evaluated(celeba_tree, tmp_path, capsys):
    from impaint.cli import main
    from impaint.model import save_checkpoint

    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=1, probabilistic=True)
    ckpt = tmp_path / "p.safetensors"
    save_checkpoint(ckpt, ImplicitInpainter(cfg), {"model_config": cfg.to_dict(),
                                                  "image_size": 32})
    assert main(["evaluate", "--data", str(celeba_tree), "--split", "test", "--loglik",
                 "--checkpoint", str(ckpt), "--methods", "impaint:p", "--families", "box",
                 "--grid-images", "0", "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "(ours," in line)
    assert "4 test images" in row and "valid" not in row  # ids 41-45, 44 absent


def test_evaluate_loglik_without_a_probabilistic_model_stops_before_the_work(
        celeba_tree, tmp_path, capsys):
    from impaint.cli import main
    from impaint.model import save_checkpoint

    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=1)  # σ-less
    ckpt = tmp_path / "plain.safetensors"
    save_checkpoint(ckpt, ImplicitInpainter(cfg), {"model_config": cfg.to_dict(),
                                                  "image_size": 32})
    assert main(["evaluate", "--data", str(celeba_tree), "--loglik", "--checkpoint", str(ckpt),
                 "--families", "box", "--out", str(tmp_path / "eval"), "--quiet"]) != 0
    assert "--loglik needs a probabilistic checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()  # nothing evaluated, nothing written


def test_loglik_and_diversity_take_non_square_images(tmp_path):
    """`evaluate --native` on 32x48 images: masks of the images' own (H, W)."""
    from impaint.evaluation.diversity import diversity_report
    from tests.helpers import STOCHASTIC

    images = torch.rand(3, 3, 32, 48)
    small = ModelConfig(width=8, coarse_width=12, hidden=16, depth=1, probabilistic=True)
    values = loglik_per_image(ImplicitInpainter(small), images)
    assert values.shape == (3,) and np.isfinite(values).all()
    assert context_mask((32, 48), torch.Generator().manual_seed(0)).shape == (1, 32, 48)
    assert torch.equal(context_mask((16, 16), torch.Generator().manual_seed(3)),
                       context_mask(16, torch.Generator().manual_seed(3)))
    table = diversity_report(ImplicitInpainter(STOCHASTIC), images, 2, 0, tmp_path, "s")
    assert "| box 0.5 |" in table and "| random 0.7 |" in table
