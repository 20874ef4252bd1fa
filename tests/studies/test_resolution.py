import torch

from impaint.model import ImplicitInpainter, ModelConfig, save_checkpoint
from impaint.cli import main
from impaint.studies.resolution import compare_resolutions, downsample


def test_a_low_resolution_pixel_is_known_only_if_its_whole_block_is():
    mask = torch.ones(1, 1, 4, 4)
    mask[..., 0, 0] = 0
    images = torch.rand(1, 3, 4, 4)
    small_img, small_mask = downsample(images, mask)
    assert small_mask[0, 0].tolist() == [[0.0, 1.0], [1.0, 1.0]]
    assert torch.allclose(small_img[..., 0, 0], images[..., :2, :2].mean((-1, -2)))


def test_compare_resolutions_rows_and_the_cli(tmp_path, image_folder, capsys):
    cfg = ModelConfig(width=8, coarse_width=12, hidden=16, depth=1)
    m32, m64 = ImplicitInpainter(cfg), ImplicitInpainter(cfg)
    rows = compare_resolutions(m32, torch.rand(3, 3, 64, 64), m64)
    assert len(rows) == 9 and all(r["psnr_hole"] > 0 for r in rows)
    ck32, ck64 = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(ck32, m32, {"model_config": cfg.to_dict(), "image_size": 32})
    save_checkpoint(ck64, m64, {"model_config": cfg.to_dict(), "image_size": 64})
    assert main(["resolution", "--data", str(image_folder), "--checkpoint", str(ck32),
                 "--checkpoint-64", str(ck64), "--limit", "3", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "resolution.md").read_text()
    assert "decoder at 64 px" in text and "bicubic" in text and "trained at 64 px" in text
    assert main(["resolution", "--data", str(image_folder), "--checkpoint", str(ck32),
                 "--checkpoint-64", str(ck32)]) == 2
    assert "trained at 32 px, not 64" in capsys.readouterr().err


def test_resolution_scores_only_what_a_checkpoint_held_out_of_a_folder(tmp_path,
                                                                       image_folder, capsys):
    """As evaluate: a checkpoint trained on this folder is scored on the tenth it held out
    (24 images: the last 2), and --split test on a plain folder is refused."""
    from impaint.train import train
    from tests.helpers import tiny_config

    ckpt = train(tiny_config(image_folder, tmp_path / "run"), progress=False)
    capsys.readouterr()
    assert main(["resolution", "--data", str(image_folder), "--checkpoint", str(ckpt),
                 "--limit", "0"]) == 0
    out = capsys.readouterr().out
    assert "the 32-px model trained on the first 22 images" in out and "SSIM, 2 images" in out
    assert main(["resolution", "--data", str(image_folder), "--checkpoint", str(ckpt),
                 "--split", "test"]) == 2
    assert "--split test picks a split of CelebA" in capsys.readouterr().err
