import pytest
import torch

from impaint.cli import main
from impaint.evaluation.diversity import diversity_fidelity
from impaint.model import save_checkpoint
from tests.helpers import STOCHASTIC, stochastic_model


def test_diversity_and_fidelity_of_hand_made_samples():
    images = torch.zeros(1, 3, 2, 2)
    masks = torch.zeros(1, 1, 2, 2)
    samples = torch.stack([torch.full((1, 3, 2, 2), 0.1), torch.full((1, 3, 2, 2), 0.3)])
    r = diversity_fidelity(samples, images, masks)
    assert r["pairwise_l1_hole"] == pytest.approx(0.2)
    assert r["best_of_k_psnr"] == pytest.approx(20.0)
    other = -10 * torch.log10(torch.tensor(0.09)).item()
    assert r["mean_psnr"] == pytest.approx((20.0 + other) / 2)


def test_evaluate_reports_diversity_for_stochastic_checkpoints(image_folder, tmp_path):
    ckpt = tmp_path / "s.safetensors"
    save_checkpoint(ckpt, stochastic_model(), {"model_config": STOCHASTIC.to_dict(),
                                               "image_size": 32})
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(image_folder), "--checkpoint", str(ckpt),
                 "--methods", "impaint:s", "--families", "box", "--limit", "4",
                 "--grid-images", "0", "--samples", "3", "--out", str(out), "--quiet"]) == 0
    text = (out / "results.md").read_text()
    assert "Diverse completions of impaint:s: 3 samples" in text and "| random 0.7 |" in text
    assert (out / "samples_impaint_s_box_0.5.png").exists()
