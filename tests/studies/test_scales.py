import torch

from impaint.cli import main
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


def test_scales_cli(tmp_path, image_folder, tiny_checkpoint, capsys):
    out = tmp_path / "t.md"
    assert main(["scales", "--data", str(image_folder), "--folder", "--native", "--limit", "2",
                 "--checkpoint", str(tiny_checkpoint), "-o", str(out)]) == 0
    assert out.read_text().startswith("| mask | single pass (tiny)")
