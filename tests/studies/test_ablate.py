import json

from impaint.studies.ablate import VARIANTS, check_budget, what_this_shows
from impaint.cli import main
from impaint.model import read_checkpoint


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
    # --only one of them: the table keeps the other, finished here with the same settings
    assert main(argv[:-1]) == 0
    assert "| conv_decoder |" in (tmp_path / "study" / "ABLATION.md").read_text()
    # Another variant's checkpoint under this one's name would be scored as it: refused.
    import shutil
    (tmp_path / "study" / "tv_0").mkdir()
    shutil.copy(tmp_path / "study" / "conv_decoder" / "last.safetensors",
                tmp_path / "study" / "tv_0" / "last.safetensors")
    capsys.readouterr()
    assert main([*argv[:-2], "tv_0"]) == 2
    assert "holds a run trained with another variant's settings" in capsys.readouterr().err
    assert main([*argv[:6], "0", *argv[7:]]) == 2  # --steps 0: said, not "checkpoint not found"
    assert "--steps must be at least 1, got 0" in capsys.readouterr().err


def test_ablation_rerun_with_other_settings_never_reuses_stale_rows(image_folder, tmp_path,
                                                                     capsys):
    out = tmp_path / "study"
    argv = ["ablate", "--data", str(image_folder), "--out", str(out), "--steps", "2",
            "--batch", "8", "--size", "16", "--limit", "8", "--only", "seed"]
    assert main(argv) == 0, capsys.readouterr().err
    row_path = out / "seed" / "row.json"
    # A plain folder of 24: the variants train on the first 22, and are scored on the last 2
    assert json.loads(row_path.read_text())["settings"]["valid_images"] == 2
    assert "train on its first 22 images and are scored on the ones held out" in \
        capsys.readouterr().out

    # Fewer valid images: the same weights, scored again on what was asked.
    assert main(argv[:-3] + ["1", "--only", "seed"]) == 0, capsys.readouterr().err
    assert json.loads(row_path.read_text())["settings"]["valid_images"] == 1

    # More steps: the run goes on to them, and the row says so.
    longer = [a if a != "2" else "3" for a in argv]
    assert main(longer) == 0, capsys.readouterr().err
    assert json.loads(row_path.read_text())["steps"] == 3
    assert read_checkpoint(out / "seed" / "last.safetensors")[1]["step"] == 3

    # Another seed, or fewer steps than trained: refused in one line before anything moves.
    stamp = row_path.stat().st_mtime_ns
    capsys.readouterr()
    assert main(longer + ["--seed", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seed 0" in err and "this study:" in err
    assert main(argv) == 2
    assert "3 steps" in capsys.readouterr().err
    assert row_path.stat().st_mtime_ns == stamp


def test_what_this_shows_reads_the_numbers():
    rows = [{"variant": "seed", "psnr_hole": {"a": 20.0, "b": 22.0}},
            {"variant": "conv_decoder", "psnr_hole": {"a": 21.0, "b": 23.0}}]
    assert "`conv_decoder` changes it by +1.00 dB" in what_this_shows(rows)  # one variant
    text = what_this_shows(rows)
    assert "21.00 dB" in text and "beats the implicit MLP decoder by 1.00 dB" in text
    rows += [{"variant": "masks_box", "psnr_hole": {"box 0.5": 21.0, "random 0.5": 19.0}},
             {"variant": "adversarial", "psnr_hole": {"box 0.5": 19.5, "random 0.5": 21.5}}]
    rows[0]["psnr_hole"] = {"box 0.5": 20.0, "random 0.5": 22.0}
    rows[1]["psnr_hole"] = {"box 0.5": 21.0, "random 0.5": 23.0}
    text = what_this_shows(rows)
    assert "Trained on box masks only: +1.00 dB on box, -3.00 dB on the other" in text
    assert "The adversarial loss costs 0.50 dB" in text


def test_a_finished_checkpoint_copied_in_without_its_log_is_scored(image_folder, tmp_path):
    """Weights trained elsewhere, copied into DIR/<variant>/ alone: evaluated as they are,
    their training rate unknown (NaN), not a FileNotFoundError."""
    import math
    import shutil

    import torch

    from impaint.studies.ablate import run_variant

    study = tmp_path / "study"
    assert main(["ablate", "--data", str(image_folder), "--out", str(study), "--steps", "2",
                 "--batch", "8", "--size", "16", "--limit", "8", "--only", "seed"]) == 0
    shutil.copy(study / "seed" / "last.safetensors", tmp_path / "trained_elsewhere.safetensors")
    shutil.rmtree(study / "seed")
    (study / "seed").mkdir()
    shutil.copy(tmp_path / "trained_elsewhere.safetensors", study / "seed" / "last.safetensors")
    row = run_variant("seed", str(image_folder), study, 2, 8, 0, 16,
                      torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
    assert math.isnan(row["train_images_per_s"]) and row["cpu_train_images_per_s"] > 0
