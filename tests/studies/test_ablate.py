import json

from impaint.studies.ablate import VARIANTS, check_budget, what_this_shows
from impaint.cli import main


def test_every_variant_keeps_the_parameter_budget():
    counts = check_budget(VARIANTS)
    assert set(counts) == set(VARIANTS)
    assert counts["conv_decoder"] != counts["seed"]  # really a different decoder


def test_ablation_runs_writes_rows_and_resumes(image_folder, tmp_path, capsys):
    argv = ["ablate", "--data", str(image_folder), "--out", str(tmp_path / "study"),
            "--steps", "2", "--batch", "8", "--size", "16", "--limit", "8",
            "--only", "seed", "conv_decoder"]
    assert main(argv) == 0, capsys.readouterr().err
    table = (tmp_path / "study" / "ABLATION.md").read_text()
    assert "**seed** (seed)" in table and "| conv_decoder |" in table
    assert "What this shows" in table and "convolutional decoder" in table
    assert (tmp_path / "study" / "variants.png").stat().st_size > 1000
    row = json.loads((tmp_path / "study" / "seed" / "row.json").read_text())
    assert row["steps"] == 2 and len(row["psnr_hole"]) == 12
    stamp = (tmp_path / "study" / "seed" / "row.json").stat().st_mtime_ns
    assert main(argv) == 0  # finished variants are skipped, not retrained
    assert (tmp_path / "study" / "seed" / "row.json").stat().st_mtime_ns == stamp


def test_what_this_shows_reads_the_numbers():
    rows = [{"variant": "seed", "psnr_hole": {"a": 20.0, "b": 22.0}},
            {"variant": "conv_decoder", "psnr_hole": {"a": 21.0, "b": 23.0}}]
    text = what_this_shows(rows)
    assert "21.00 dB" in text and "beats the implicit MLP decoder by 1.00 dB" in text
    rows += [{"variant": "masks_box", "psnr_hole": {"box 0.5": 21.0, "random 0.5": 19.0}},
             {"variant": "adversarial", "psnr_hole": {"box 0.5": 19.5, "random 0.5": 21.5}}]
    rows[0]["psnr_hole"] = {"box 0.5": 20.0, "random 0.5": 22.0}
    rows[1]["psnr_hole"] = {"box 0.5": 21.0, "random 0.5": 23.0}
    text = what_this_shows(rows)
    assert "Trained on box masks only: +1.00 dB on box, -3.00 dB on the other" in text
    assert "The adversarial loss costs 0.50 dB" in text
