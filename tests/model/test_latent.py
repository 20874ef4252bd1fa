import pytest
from PIL import Image
import torch

from impaint.cli import main
from impaint.model import (ImplicitInpainter, ModelConfig, count_parameters, inpaint,
                           sample_completions, save_checkpoint)
from tests.helpers import STOCHASTIC, stochastic_model


def test_samples_differ_keep_known_pixels_and_repeat_with_the_seed():
    model = stochastic_model()
    img, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    s = sample_completions(model, img, mask, k=3, seed=7)
    assert s.shape == (3, 2, 3, 16, 16)
    known = mask.bool().expand_as(img)
    for sample in s:
        assert torch.equal(sample[known], img[known])
    assert not torch.equal(s[0], s[1])
    assert torch.equal(s, sample_completions(model, img, mask, k=3, seed=7))
    assert not torch.equal(s, sample_completions(model, img, mask, k=3, seed=8))


def test_training_mode_uses_the_posterior_and_returns_a_kl():
    model = stochastic_model().train()
    img, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    mean, sigma, kl = model(img, mask, with_kl=True)
    assert mean.shape == img.shape and sigma is None and float(kl.detach()) >= 0
    kl.backward()
    assert model.latent.posterior.weight.grad.abs().sum() > 0
    assert inpaint(model, img, mask).shape == img.shape  # eval: the prior's mean


def test_latent_budget_and_deterministic_models_refuse_sampling():
    extra = count_parameters(ImplicitInpainter(ModelConfig(latent_dim=8))) - \
        count_parameters(ImplicitInpainter())
    assert 0 < extra < 0.1 * 4.7e5
    plain = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    with pytest.raises(ValueError, match="no stochastic latent"):
        sample_completions(plain, torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8), 2)


def test_sample_and_inpaint_samples_through_the_cli(tmp_path, capsys):
    ckpt = tmp_path / "s.safetensors"
    save_checkpoint(ckpt, stochastic_model(), {"model_config": STOCHASTIC.to_dict(),
                                               "image_size": 16})
    assert main(["sample", "4", "--checkpoint", str(ckpt), "-o", str(tmp_path / "o")]) == 0
    assert len(list((tmp_path / "o").glob("sample_*.png"))) == 4
    # Many draws: names that sort as the draws do, and a figure that wraps (10 a row, 100 at
    # most) rather than one row thousands of images wide.
    assert main(["sample", "1000", "--checkpoint", str(ckpt), "-o", str(tmp_path / "many")]) == 0
    names = sorted(p.name for p in (tmp_path / "many").glob("sample_*.png"))
    assert names[0] == "sample_0001.png" and names[-1] == "sample_1000.png" and len(names) == 1000
    with Image.open(tmp_path / "many" / "samples.png") as grid:
        assert grid.width < 2000 and grid.height > 0.9 * grid.width  # 10 rows of 10
    import numpy as np
    Image.fromarray(np.full((16, 16, 3), 99, np.uint8)).save(tmp_path / "x.png")
    hole = np.zeros((16, 16), np.uint8)
    hole[4:10, 4:10] = 255
    Image.fromarray(hole).save(tmp_path / "m.png")
    assert main(["inpaint", str(tmp_path / "x.png"), "--mask", str(tmp_path / "m.png"), "-o",
                 str(tmp_path / "y.png"), "--checkpoint", str(ckpt), "--samples", "3"]) == 0
    assert sorted(p.name for p in tmp_path.glob("y_*.png")) == ["y_1.png", "y_2.png", "y_3.png"]
