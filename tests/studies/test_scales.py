import torch

from impaint.cli import checkpoint_labels, main
from impaint.model import ImplicitInpainter
from impaint.studies.scales import DESIGNS, ROWS, compare_designs
from tests.helpers import TINY


def test_design_table_has_a_row_per_mask_and_a_column_per_design(capsys):
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 80)
    table = compare_designs({"tiny": ImplicitInpainter(TINY)}, images, baselines=("telea",))
    lines = table.splitlines()
    assert len(lines) == 2 + len(ROWS)
    assert lines[0].count("(tiny)") == len(DESIGNS) and "best classical" in lines[0]
    assert all(line.endswith("(telea) |") or "**" in line.split("|")[-2] for line in lines[2:])


def test_a_pairs_coarse_model_fills_the_coarsest_level_of_both_pyramid_designs():
    """As `impaint inpaint` runs the `faces` pair: the designs of the pair, not of its fine
    model alone (the single pass has no coarse level, and stays the fine model's)."""
    from impaint.evaluation.protocol import evaluation_masks
    from impaint.model.checkpoint import with_coarse

    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 80)
    mask = evaluation_masks(2, (64, 80), 0)["box", "0.5"]  # wider than reach: two levels
    fine = ImplicitInpainter(TINY).eval()
    pair = with_coarse(ImplicitInpainter(TINY).eval(), ImplicitInpainter(TINY).eval())
    pair.load_state_dict(fine.state_dict())  # fine's weights, and a coarse model of its own
    same = {name: torch.equal(design(fine, images, mask), design(pair, images, mask))
            for name, design in DESIGNS.items()}
    assert same == {"single pass": True, "coarse, then up": False, "pyramid": False}


def test_scales_scores_only_what_a_checkpoint_did_not_train_on(tmp_path, image_folder, capsys):
    from impaint.train import train
    from tests.helpers import tiny_config

    ckpt = train(tiny_config(image_folder, tmp_path / "run"), progress=False)
    capsys.readouterr()
    assert main(["scales", "--data", str(image_folder), "--folder", "--native", "--limit", "0",
                 "--checkpoint", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "trained on the first 22 images" in out and "scoring only the ones held out" in out


def test_scales_cli(tmp_path, image_folder, tiny_checkpoint, capsys):
    out = tmp_path / "t.md"
    assert main(["scales", "--data", str(image_folder), "--folder", "--native", "--limit", "2",
                 "--checkpoint", str(tiny_checkpoint), "-o", str(out)]) == 0
    text = out.read_text().splitlines()
    assert text[0].startswith("PSNR on the hole (dB) of each multi-scale design, 2 images of")
    assert text[2].startswith("| mask | single pass (tiny)")
    assert main(["scales", "--data", str(image_folder), "--folder", "-o", str(tmp_path)]) == 2
    assert f"-o {tmp_path} is a folder" in capsys.readouterr().err
    # --size with --native was silently ignored: one or the other
    assert main(["scales", "--data", str(image_folder), "--folder", "--native", "--size",
                 "64"]) == 2
    assert "--native scores the images at their own size: leave out --size 64" in \
        capsys.readouterr().err


def test_scales_names_every_checkpoint_column(tmp_path, image_folder, tiny_checkpoint, capsys):
    (tmp_path / "a").mkdir()
    twin = tmp_path / "a" / tiny_checkpoint.name  # the same file name in another folder
    twin.write_bytes(tiny_checkpoint.read_bytes())
    assert main(["scales", "--data", str(image_folder), "--folder", "--native", "--limit", "1",
                 "--checkpoint", str(tiny_checkpoint), str(twin)]) == 0
    printed = capsys.readouterr().out.splitlines()[2:]  # after the caption
    assert printed[0].startswith("| mask | single pass (") and printed[1].startswith("|---|")
    assert f"({tiny_checkpoint})" in printed[0] and f"({twin})" in printed[0]
    assert len(printed) == 2 + len(ROWS)  # the header first, a row per mask, no file
    assert checkpoint_labels(["shipped", "general", "x/best.safetensors"]) == [
        "celeba32 (shipped)", "general (shipped)", "best"]
    assert main(["scales", "--data", str(image_folder), "--folder", "--checkpoint",
                 str(twin), str(twin)]) == 2
    assert "the same checkpoint twice" in capsys.readouterr().err
