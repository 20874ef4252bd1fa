import re
from dataclasses import replace

import pytest

from impaint.model import ImplicitInpainter, save_checkpoint
from impaint.cli import main
from tests.helpers import TINY


@pytest.fixture(params=["deterministic", "probabilistic"])
def checkpoint(request, tiny_checkpoint, tmp_path):
    if request.param == "deterministic":
        return tiny_checkpoint
    cfg = replace(TINY, probabilistic=True)  # its decoder returns mean and σ: 2C channels
    path = tmp_path / "tiny_prob.safetensors"
    save_checkpoint(path, ImplicitInpainter(cfg), {"model_config": cfg.to_dict(),
                                                   "image_size": 32, "step": 0})
    return path


def test_reproduce_end_to_end_on_a_tiny_celeba_tree(celeba_tree, checkpoint, tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("step,epoch,lr,loss,mse,tv,images_per_s,valid_psnr_hole\n"
                   "1,0.1,1e-3,0.05,0.05,0.01,100,\n2,0.2,1e-3,0.04,0.04,0.01,100,15.0\n"
                   "2,0.2,1e-3,0.04,0.04,0.01,100,15.5\n")
    out = tmp_path / "report"
    code = main(["reproduce", "--data", str(celeba_tree), "--out", str(out),
                 "--checkpoint", str(checkpoint), "--log", str(log)])
    assert code == 0, capsys.readouterr().err
    report = (out / "REPORT.md").read_text()
    for png in ["training_curve", "box_075", "random_050", "random_030", "full",
                "latent_interpolation", "latent_pca"]:
        assert (out / f"{png}.png").stat().st_size > 1000
        assert f"({png}.png)" in report
    assert report.count("Mean PSNR on the hole") == 4
    # the command that repeats the run, every argument given in it
    assert (f"Command: `impaint reproduce --data {celeba_tree} --out {out} --checkpoint "
            f"{checkpoint} --log {log}`") in report
    assert re.search(r"## 7\. Results on the valid split", report)
    assert (out / "training_log.csv").read_text().count("\n2,") == 1  # resumed rows merged


def test_reproduce_needs_its_8_images_and_says_so(celeba_tree, tmp_path, capsys):
    assert main(["reproduce", "--data", str(celeba_tree), "--out", str(tmp_path / "r"),
                 "--limit", "4"]) == 2
    err = capsys.readouterr().err
    assert "reproduce shows 8 images in every figure" in err and "--limit 8" in err
    assert err.count("\n") == 1 and not (tmp_path / "r").exists()
    # A --log given is meant: missing, or not a log.csv, one line before the work (it was
    # "No training log found" in the report, or a KeyError)
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    for log, message in [("missing.csv", "--log missing.csv not found"),
                         (str(tmp_path / "notes.csv"), "is not a training log.csv")]:
        assert main(["reproduce", "--data", str(celeba_tree), "--out", str(tmp_path / "r"),
                     "--log", log]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_the_reports_command_repeats_the_run():
    from impaint.studies.reproduce import reproduce_command

    assert reproduce_command("d", "o", None, "valid", 0, 500, None) == \
        "impaint reproduce --data d --out o"
    assert reproduce_command("my data", "o", None, "test", 3, None, None) == \
        "impaint reproduce --data 'my data' --out o --split test --seed 3 --limit 0"


def test_shipped_models_training_logs_are_found_by_name_not_in_the_current_folder(
        tmp_path, monkeypatch, tiny_checkpoint):
    from impaint.studies.reproduce import _default_log

    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("an unrelated run's log")
    assert _default_log(None) == _default_log("celeba32")
    assert _default_log("celeba32").name == "training_log.csv" and _default_log(None).exists()
    assert _default_log("general").name == "general_training_log_stage3.csv"
    assert _default_log("faces") == _default_log("general") and _default_log("faces").exists()
    assert _default_log("nonesuch.safetensors") is None  # not ./log.csv
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.safetensors").write_bytes(tiny_checkpoint.read_bytes())
    assert _default_log(run / "last.safetensors") is None
    (run / "log.csv").write_text("its own")
    assert _default_log(run / "last.safetensors") == run / "log.csv"


def test_latent_variance_shares_sum_to_at_most_one_and_repeat(tiny_checkpoint, tmp_path):
    """One normalisation for both sides of the ratio (the shares read 8/7 too high at 8
    images), and the randomized PCA under the run's seed: the figure repeats."""
    import torch

    from impaint.model import load_model
    from impaint.studies.reproduce import principal_directions_figure

    model = load_model(tiny_checkpoint)
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = principal_directions_figure(model, images, tmp_path / "a.png", seed=0)
    torch.manual_seed(123)  # another global state: the same shares
    b = principal_directions_figure(model, images, tmp_path / "b.png", seed=0)
    assert torch.equal(a, b) and 0 < float(a.sum()) <= 1 + 1e-6
