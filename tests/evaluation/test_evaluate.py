import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from impaint.evaluation.baselines import BASELINES
from impaint.model import ImplicitInpainter, ModelConfig, save_checkpoint
from impaint.cli import main
from impaint.evaluation.evaluate import evaluate
from impaint.evaluation.protocol import EVAL_MASKS, evaluation_masks, mask_seed


def tiny_images(n=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)


def tiny_checkpoint(path, image_size=32):
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    save_checkpoint(path, model, {"model_config": model.cfg.to_dict(),
                                  "image_size": image_size, "step": 0})
    return path


def test_same_seed_gives_byte_identical_masks_and_limit_keeps_the_first_ones():
    a, b = evaluation_masks(4, 16, seed=3), evaluation_masks(4, 16, seed=3)
    assert list(a) == [(f, lab) for f in EVAL_MASKS for lab in EVAL_MASKS[f]]
    for key in a:
        assert a[key].shape == (4, 1, 16, 16)
        assert a[key].numpy().tobytes() == b[key].numpy().tobytes()
    fewer = evaluation_masks(2, 16, seed=3)  # what --limit 2 would draw
    assert all(torch.equal(fewer[k], a[k][:2]) for k in fewer)
    other = evaluation_masks(4, 16, seed=4)
    assert not torch.equal(other["random", "0.5"], a["random", "0.5"])
    assert not torch.equal(a["random", "0.5"][0], a["random", "0.5"][1])  # per image
    assert torch.all(a["full", "all"] == 0)


def test_mask_seeds_are_pinned_across_runs():
    # crc32 + SeedSequence, not hash(): a new process (PYTHONHASHSEED) draws the same masks.
    assert mask_seed(0, 0, "random", "0.5") == 5130171802217286209
    assert mask_seed(0, 1, "random", "0.5") == 8999152495637807541


def test_every_method_sees_the_same_masks():
    seen = {"a": [], "b": []}

    def spy(name):
        def fn(image, mask):
            seen[name].append(mask.copy())
            return BASELINES["mean_fill"](image, mask)
        return fn

    evaluate(tiny_images(), {"a": spy("a"), "b": spy("b")}, seed=5, families=["box", "strokes"],
             progress=False)
    expected = [m[0].numpy() for key, batch in evaluation_masks(3, 32, 5, ["box", "strokes"])
                .items() for m in batch]
    for name in seen:
        assert len(seen[name]) == len(expected)
        assert all(s.tobytes() == e.tobytes() for s, e in zip(seen[name], expected))


def test_results_rows_and_full_mask_fill():
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1))
    methods = {"impaint:tiny": model, "telea": BASELINES["telea"],
               "mean_fill": BASELINES["mean_fill"]}
    res = evaluate(tiny_images(), methods, families=["random", "full"], progress=False,
                   grid_images=2)
    assert len(res.rows) == 3 * 6
    assert set(res.time_per_image) == set(methods)
    # Full masks: both classical methods are the same constant, the evaluated images' mean.
    assert res.row("telea", "full", "all")["psnr_hole"] == \
        res.row("mean_fill", "full", "all")["psnr_hole"]
    assert res.row("telea", "random", "0.1")["hole_ratio"] == pytest.approx(0.1, abs=0.03)
    assert "**" in res.table() and "¹" in res.markdown()
    assert res.samples["random", "0.5"]["impaint:tiny"].shape == (2, 3, 32, 32)
    assert repr(res) == ("Results(3 methods x 6 masks on 3 images: impaint:tiny, telea, "
                         "mean_fill; .table() for PSNR on the hole, .rows for all)")
    with pytest.raises(KeyError, match="no row for telea on box 0.5: methods impaint:tiny, "
                                       "telea, mean_fill; masks full all, random 0.1, "):
        res.row("telea", "box", "0.5")
    one = evaluate(tiny_images(), {"telea": BASELINES["telea"]}, families="full",
                   progress=False, grid_images=0)  # one family by its name, not its letters
    assert [(r["family"], r["label"]) for r in one.rows] == [("full", "all")]


def test_psnr_on_the_hole_is_taken_on_the_hole_alone():
    """A fill 0.1 off on every hole pixel and exact elsewhere: 20 dB on the hole, whatever
    the hole's size; the whole image's PSNR is higher, the more so the smaller the hole."""
    def off_by_a_tenth(image, known):  # (H, W, 3) and (H, W), 1 = known
        return np.where(known[..., None] > 0, image, image + 0.1)

    images = torch.full((2, 3, 32, 32), 100, dtype=torch.uint8)
    res = evaluate(images, {"off": off_by_a_tenth}, families="box", progress=False,
                   grid_images=0)
    for label in ("0.25", "0.5"):
        row = res.row("off", "box", label)
        assert row["psnr_hole"] == pytest.approx(20.0, abs=1e-4)
        assert row["psnr_full"] == pytest.approx(20.0 - 10 * math.log10(row["hole_ratio"]),
                                                 abs=0.05)


def test_the_api_leaves_a_model_as_it_was_and_names_a_missing_device():
    """A model scored between training steps goes on training; a device this machine lacks
    is one line, before any work."""
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1)).train()
    evaluate(tiny_images(), {"impaint:tiny": model}, families="full", progress=False,
             grid_images=0)
    assert model.training
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda asked for, but this machine has none"):
            evaluate(tiny_images(), {"impaint:tiny": model}, device="cuda", progress=False)


def test_end_to_end_on_an_image_folder(tmp_path, image_folder, capsys):
    ckpt = tiny_checkpoint(tmp_path / "best.safetensors")
    out = tmp_path / "eval"
    rc = main(["evaluate", "--data", str(image_folder), "--checkpoint", str(ckpt), "--limit",
               "3", "--grid-images", "2", "--save-masks", "--quiet", "--out", str(out)])
    assert rc == 0
    for name in ["results.csv", "results.json", "results.md", "grid_random.png",
                 "grid_box.png", "grid_strokes.png", "grid_full.png"]:
        assert (out / name).is_file(), name
    data = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in data["rows"]} == {"impaint:best", *BASELINES}
    assert data["config"]["images"] == 3 and data["config"]["strokes_p"] == 0.4
    printed = capsys.readouterr().out
    assert "impaint:best" in printed and "PSNR on the hole" in printed
    report = (out / "results.md").read_text()  # every table, and the figures it describes
    assert "### L1 on the hole" in report and "### PSNR of the composed image" in report
    assert "![box](grid_box.png)" in report and "![full](grid_full.png)" in report
    # Saved masks: white = hole, the same masks evaluation_masks regenerates.
    png = np.asarray(Image.open(out / "masks" / "box_0.5" / "000001.png"))
    mask = evaluation_masks(3, 32, 0, ["box"])["box", "0.5"][1, 0].numpy()
    assert np.array_equal(png == 255, mask == 0)
    # Again into the same folder, boxes only: the other families' grids go, not a user's file.
    (out / "grid_mine.png").write_bytes(b"the user's")
    for old in ("calibration_impaint_best.json", "reliability_impaint_best.png"):
        (out / old).write_text("the earlier run's σ calibration, of a method not run now")
    (out / "reliability_mine.png").write_bytes(b"the user's")
    assert main(["evaluate", "--data", str(image_folder), "--checkpoint", str(ckpt), "--limit",
                 "3", "--grid-images", "2", "--families", "box", "--methods", "telea",
                 "--quiet", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("grid_*.png")) == ["grid_box.png", "grid_mine.png"]
    assert not list(out.glob("calibration_*"))
    assert [p.name for p in out.glob("reliability_*")] == ["reliability_mine.png"]



@pytest.fixture
def empty_test_split(tmp_path):
    """A CelebA tree whose partition lists test images that are not there."""
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    Image.new("RGB", (178, 218)).save(root / "img_align_celeba" / "000001.jpg")
    (root / "list_eval_partition.txt").write_text("000001.jpg 1\n000002.jpg 2\n")
    return root


@pytest.mark.parametrize("extra,message", [
    (["--methods", "telea", "magic"], "unknown method 'magic'"),
    (["--families", "blob"], "unknown mask family 'blob'"),
    (["--limit", "-2"], "--limit must be 0 (all) or a number of images, got -2"),
    (["--size", "8"], "--size must be from 16 to 1024 px"),
    (["--size", "0"], "--size must be from 16 to 1024 px, got 0"),
    (["--size", "100000"], "--size must be from 16 to 1024 px, got 100,000"),
    (["--batch", "0"], "--batch must be at least 1, got 0"),
    (["--checkpoint", "general", "general"], "--checkpoint names the same checkpoint twice"),
    (["--split", "test", "--data", "EMPTY"], "no images of split 'test'"),
    # a plain folder is read whole
    (["--split", "test"], "--split test picks a split of CelebA (or of a folder with "),
    (["--device", "gpu"], "--device gpu is not a device: auto, cpu, cuda or cuda:N"),
    (["--grid-images", "-1"], "--grid-images must be 0 (none) or more"),
    (["--native"], "--native scores the images at their own size: leave out --size 32"),
    (["--samples", "-2"], "--samples must be 0 (none) or a number of samples, got -2"),
    # once: no table, no word, exit 0
    (["--samples", "2"], "--samples needs a checkpoint with a stochastic latent"),
    # the next run would read its grids as images
    (["-o", "IMAGES/eval"], "/imgs/eval lies inside "),
])
def test_bad_input_is_a_one_line_error(tmp_path, image_folder, empty_test_split, capsys,
                                       extra, message):
    extra = [{"EMPTY": str(empty_test_split)}.get(a, a.replace("IMAGES", str(image_folder)))
             for a in extra]
    rc = main(["evaluate", "--data", str(image_folder), "--quiet", "--out",
               str(tmp_path / "out"), "--size", "32", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("impaint: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() and not (image_folder / "eval").exists()


def test_an_output_that_is_a_file_is_refused_before_the_work(tmp_path, image_folder, capsys):
    (tmp_path / "face.png").write_bytes(b"not a folder")
    rc = main(["evaluate", "--data", str(image_folder), "--quiet", "--size", "32",
               "--methods", "telea", "-o", str(tmp_path / "face.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "-o " in err and "is a file" in err and err.count("\n") == 1
    assert (tmp_path / "face.png").read_bytes() == b"not a folder"


def test_native_size_non_square_and_larger_than_training(tmp_path, image_folder, capsys):
    """Images as they are on disk (40 x 48 here, not square, not 32 px) through the pipeline."""
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    rc = main(["evaluate", "--data", str(image_folder), "--folder", "--native", "--limit", "3",
               "--families", "box", "strokes", "--methods", "impaint:tiny", "telea",
               "--checkpoint", str(ckpt), "--quiet", "--grid-images", "0", "--save-masks",
               "--out", str(tmp_path / "out")])
    assert rc == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["size"] == "48x40"  # width x height
    # the run's masks, as it saved them: at the images' own 40 x 48, three per family and size
    saved = tmp_path / "out" / "masks"
    expected = evaluation_masks(3, (40, 48), 0, ["box", "strokes"])
    assert sorted(p.name for p in saved.iterdir()) == sorted(f"{f}_{l}" for f, l in expected)
    for (family, label), batch in expected.items():
        files = sorted((saved / f"{family}_{label}").iterdir())
        assert len(files) == 3
        for path, mask in zip(files, batch):
            hole = np.asarray(Image.open(path)) == 255  # white = hole
            assert hole.shape == (40, 48) and np.array_equal(hole, (mask[0] == 0).numpy())
    assert "3 images of 48x40 px" in capsys.readouterr().out


def test_a_backend_is_scored_beside_pytorch_on_the_same_masks(tmp_path, image_folder, capsys):
    """--backend onnxruntime: the exported graph (fp32) scores what PyTorch fp32 scores."""
    pytest.importorskip("onnxruntime")
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    rc = main(["evaluate", "--data", str(image_folder), "--folder", "--native", "--limit", "3",
               "--families", "random", "box", "--methods", "impaint:tiny",
               "impaint:tiny [onnxruntime]", "--backend", "onnxruntime", "--checkpoint",
               str(ckpt), "--quiet", "--grid-images", "0", "--out", str(tmp_path / "out")])
    assert rc == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    by = {(r["method"], r["family"], r["label"]): r["psnr_hole"] for r in rows}
    pairs = [(v, by[("impaint:tiny [onnxruntime]", f, l)])
             for (m, f, l), v in by.items() if m == "impaint:tiny"]
    assert len(pairs) == 8 and all(abs(a - b) < 0.01 for a, b in pairs)
    assert "impaint:tiny [onnxruntime]" in capsys.readouterr().out
    # The exported graph itself, as a checkpoint: run in onnxruntime (it was refused with
    # advice to add --backend onnxruntime, which was refused the same way).
    from impaint.inference.onnx_export import export_onnx
    from impaint.model import load_model

    graph = export_onnx(load_model(ckpt), tmp_path / "graph" / "tiny.onnx")
    rc = main(["evaluate", "--data", str(image_folder), "--folder", "--native", "--limit", "3",
               "--families", "random", "box", "--methods", "impaint:tiny", "--checkpoint",
               str(graph), "--quiet", "--grid-images", "0", "--out", str(tmp_path / "out2")])
    assert rc == 0
    rows = json.loads((tmp_path / "out2" / "results.json").read_text())["rows"]
    assert sorted(r["psnr_hole"] for r in rows) == pytest.approx(sorted(v for v, _ in pairs),
                                                                 abs=0.01)


@pytest.mark.parametrize("options, label", [
    (["--flips", "2"], "[2 flips]"),
    (["--rounds", "2"], "[2 rounds]"),
    (["--flips", "2", "--rounds", "2"], "[2 flips, 2 rounds]"),
])
def test_flips_and_rounds_are_scored_beside_the_plain_fill(tmp_path, image_folder, capsys,
                                                           options, label):
    """--flips 2 / --rounds 2: each checkpoint also as `<name> [2 flips]` (a checkpoint chosen
    with --methods too), on the same masks; its fill is averaged (over the mirror image, or
    the rounds' re-fills of the scattered holes), so it differs from the plain one."""
    ckpt = tmp_path / "tiny.safetensors"
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1,
                                          probabilistic=True))
    save_checkpoint(ckpt, model, {"model_config": model.cfg.to_dict(), "image_size": 32})
    rc = main(["evaluate", "--data", str(image_folder), "--folder", "--limit", "3",
               "--families", "random", "--methods", "impaint:tiny", *options,
               "--checkpoint", str(ckpt), "--quiet", "--grid-images", "0",
               "--out", str(tmp_path / "out")])
    assert rc == 0
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["rows"]
    by = {(r["method"], r["label"]): r for r in rows}
    averaged = f"impaint:tiny {label}"
    assert {m for m, _ in by} == {"impaint:tiny", averaged}
    for ratio in ("0.1", "0.5", "0.9"):
        plain, other = by["impaint:tiny", ratio], by[averaged, ratio]
        assert plain["hole_ratio"] == other["hole_ratio"]
        assert plain["psnr_hole"] != other["psnr_hole"]
    out = capsys.readouterr().out
    assert f"| impaint:tiny | {averaged} |" in out
    # σ's calibration for each: another mean (and, with flips, the mixture's σ)
    assert f"Calibration of {averaged}" in out
    stem = "impaint_tiny_" + label.strip("[]").replace(", ", "_").replace(" ", "_")
    plain, other = (json.loads((tmp_path / "out" / f"calibration_{n}.json").read_text())
                    for n in ("impaint_tiny", stem))
    assert plain[-1]["nll"] != other[-1]["nll"]
    # a link Markdown renders: no space or bracket in the image's file name
    assert f"![reliability of {averaged}](reliability_{stem}.png)" in \
        (tmp_path / "out" / "results.md").read_text()


def test_sigma_is_calibrated_on_the_fills_scored_made_once(monkeypatch):
    """One model pass per batch and mask gives both the scores and the calibration (it was a
    second pass, in the product's bf16 where the table was fp32)."""
    import impaint.evaluation.scoring as ev
    from impaint.evaluation.calibration import calibration_table

    torch.manual_seed(0)
    model = ImplicitInpainter(ModelConfig(width=8, coarse_width=12, hidden=16, depth=1,
                                          probabilistic=True)).eval()
    calls, real = [], ev.inpaint_with_std
    monkeypatch.setattr(ev, "inpaint_with_std", lambda *a, **k: calls.append(1) or real(*a, **k))
    images = tiny_images(4)
    results = evaluate(images, {"impaint:p": model, "telea": BASELINES["telea"]}, batch=4,
                       families=["random"], grid_images=0, progress=False, calibrate=True)
    masks = evaluation_masks(4, (32, 32), 0, ["random"])
    assert len(calls) == 1 + len(masks)  # the warm-up, then one pass a mask
    assert set(results.calibration) == {"impaint:p"}  # telea predicts no σ
    fills = {key: (*ev._run_model(model, images.float() / 255, m, "cpu", False), m)
             for key, m in masks.items()}
    assert results.calibration["impaint:p"] == calibration_table(fills, images.float() / 255,
                                                                 None, "impaint:p")
    assert evaluate(images, {"impaint:p": model}, families=["random"], grid_images=0,
                    progress=False).calibration == {}  # not asked


def test_checkpoints_of_one_name_are_each_named_by_their_run(tmp_path, tiny_checkpoint):
    from impaint.evaluation.evaluate import _checkpoint_methods

    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "best.safetensors").write_bytes(tiny_checkpoint.read_bytes())
    a, b = tmp_path / "a" / "best.safetensors", tmp_path / "b" / "best.safetensors"
    assert list(_checkpoint_methods([str(a), str(b), str(tiny_checkpoint)])) == [
        "impaint:a/best", "impaint:b/best", f"impaint:{tiny_checkpoint.stem}"]
    assert list(_checkpoint_methods([str(a), str(a)])) == ["impaint:best"]  # given twice


def test_the_outputs_name_the_model_data_and_split(tmp_path, image_folder, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", "--data", str(image_folder), "--folder", "--limit", "2",
                 "--methods", "impaint", "telea", "--families", "box", "--quiet",
                 "--grid-images", "0", "--out", str(out)]) == 0
    assert "impaint evaluate: impaint = celeba32, the shipped model for aligned 32-px faces" \
        in capsys.readouterr().out  # not a photo model: said before the numbers
    config = json.loads((out / "results.json").read_text())["config"]
    assert config["data"] == str(image_folder) and config["split"] == "a plain folder"
    assert config["checkpoints"]["impaint"].startswith("celeba32")
    assert f"from {image_folder} (a plain folder)" in (out / "results.md").read_text()
    assert "Checkpoints: impaint = celeba32" in (out / "results.md").read_text()
