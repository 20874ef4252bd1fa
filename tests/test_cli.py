"""The CLI's exit codes and one-line messages; the library behind it is tested elsewhere."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from impaint.cli import COMMANDS, TABLE_FAMILIES, main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err, fragment):
    lines = [l for l in err.strip().splitlines() if l.startswith("impaint: error:")]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


@pytest.fixture
def files(tmp_path):
    img = tmp_path / "face.png"
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(img)
    mask = tmp_path / "mask.png"
    hole = np.zeros((16, 16), np.uint8)
    hole[4:9, 4:9] = 255
    Image.fromarray(hole).save(mask)
    return img, mask


def test_inpaint_writes_output(capsys, files, tmp_path, tiny_checkpoint):
    img, mask = files
    code, out, _ = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                       "--checkpoint", tiny_checkpoint)
    assert code == 0 and "wrote" in out and (tmp_path / "o.png").exists()
    assert "lossy" not in out
    # A JPEG output says that its known pixels are no longer exact.
    code, out, _ = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.jpg",
                       "--checkpoint", tiny_checkpoint)
    assert code == 0 and out.splitlines()[-1] == (
        "note: JPG is lossy (quality 95): the known pixels move (a few levels, up to ~16 at "
        "sharp edges); a .png output keeps them exact")
    # A cut-out to JPEG: its transparency is gone, and said; a GIF or icon is not written.
    cut = np.asarray(Image.open(img).convert("RGBA")).copy()
    cut[:4, :, 3] = 0  # a transparent strip
    Image.fromarray(cut).save(tmp_path / "cut.png")
    code, out, _ = run(capsys, "inpaint", tmp_path / "cut.png", "--mask", mask, "-o",
                       tmp_path / "c.jpg", "--checkpoint", tiny_checkpoint)
    assert code == 0 and "note: JPG has no transparency: the input's alpha is dropped" in out
    for name in ("o.gif", "o.ico"):
        code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / name,
                           "--checkpoint", tiny_checkpoint)
        assert code == 2 and f"cannot write {name}: name the output .png" in err


def test_an_animation_is_read_by_its_first_frame_and_says_so(capsys, files, tmp_path,
                                                             tiny_checkpoint):
    img, mask = files
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (120, 30, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, _, err = run(capsys, "inpaint", tmp_path / "anim.gif", "--mask", mask, "-o",
                       tmp_path / "o.png", "--checkpoint", tiny_checkpoint)
    assert code == 0 and (f"impaint: note: {tmp_path / 'anim.gif'} holds 3 frames (an "
                          "animation or pages): the first is read") in err
    corner = np.asarray(Image.open(tmp_path / "o.png"))[0, 0]
    assert abs(int(corner[0]) - 120) <= 2  # the first frame's grey, a known pixel


@pytest.mark.parametrize("option, plain, averaged", [("--flips", 1, 8), ("--rounds", 0, 4)])
def test_inpaint_averaged_keeps_known_pixels_and_changes_the_fill(capsys, tmp_path,
                                                                  tiny_checkpoint, option,
                                                                  plain, averaged):
    """--flips 8 on an off-centre box (its mirror images are other holes); --rounds 4 on
    scattered holes (the one pass they take, re-filled in rounds)."""
    img, mask = tmp_path / "ramp.png", tmp_path / "mask.png"
    ramp = np.linspace(0, 255, 24 * 20 * 3).reshape(20, 24, 3).astype(np.uint8)
    Image.fromarray(ramp).save(img)
    hole = np.zeros((20, 24), np.uint8)
    if option == "--flips":
        hole[3:9, 2:12] = 255
    else:
        hole[np.random.default_rng(0).random((20, 24)) < 0.6] = 255
    Image.fromarray(hole).save(mask)
    outs = {}
    for n in (plain, averaged):
        out = tmp_path / f"out{n}.png"
        code, _, _ = run(capsys, "inpaint", img, "--mask", mask, "-o", out, "--checkpoint",
                         tiny_checkpoint, option, n, "--fp32")
        assert code == 0
        outs[n] = np.asarray(Image.open(out))
    known = hole == 0
    assert (outs[averaged][known] == ramp[known]).all()
    assert (outs[averaged][~known] != outs[plain][~known]).any()


@pytest.mark.parametrize("size, same_as", [((20, 24), ("--flips", 8, "--rounds", 8)),
                                           ((712, 720), ("--flips", 1))])
def test_inpaint_averages_by_the_images_size_unless_told(capsys, tmp_path, tiny_checkpoint,
                                                         size, same_as):
    """Neither --flips nor --rounds: `auto_averaged`, all of it on a small image, one pass
    from 708x708 px (a file alone and in a folder)."""
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / "in/a.png")
    Image.fromarray(np.where(rng.random(size) < 0.5, 255, 0).astype(np.uint8)).save(
        tmp_path / "masks/a.png")
    outs = {}
    for name, options in (("auto", ()), ("told", same_as), ("other", ("--flips", 2))):
        code, _, _ = run(capsys, "inpaint", tmp_path / "in/a.png", "--mask",
                         tmp_path / "masks/a.png", "-o", tmp_path / f"{name}.png", "--checkpoint",
                         tiny_checkpoint, "--fp32", *options)
        assert code == 0
        outs[name] = np.asarray(Image.open(tmp_path / f"{name}.png"))
    assert np.array_equal(outs["auto"], outs["told"]) and not np.array_equal(outs["auto"],
                                                                              outs["other"])
    code, _, _ = run(capsys, "inpaint", tmp_path / "in", "--mask", tmp_path / "masks", "-o",
                     tmp_path / "folder", "--checkpoint", tiny_checkpoint, "--fp32")
    assert code == 0 and np.array_equal(np.asarray(Image.open(tmp_path / "folder/a.png")),
                                        outs["auto"])


def test_inpaint_refuses_flips_it_does_not_know(capsys, tmp_path, files):
    img, mask = files
    with pytest.raises(SystemExit) as exit_:  # argparse's, on one line as the commands' own
        run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "x.png", "--flips", 3)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("(see impaint inpaint --help)\n"), err
    one_line_error(err, "argument --flips: invalid choice: 3 (choose from 1, 2, 4, 8)")


def test_version(capsys):
    import impaint
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"impaint {impaint.__version__}"


def test_info_prints_the_parameter_count(capsys, tiny_checkpoint, monkeypatch):
    from impaint.model import ImplicitInpainter, count_parameters
    from tests.helpers import TINY
    code, out, _ = run(capsys, "info", tiny_checkpoint)
    assert code == 0 and f"parameters: {count_parameters(ImplicitInpainter(TINY)):,}" in out
    assert out.startswith(f"checkpoint: {tiny_checkpoint}\n")
    for name, use in [("", "aligned 32-px faces"), ("general", "photos of any size")]:
        code, out, _ = run(capsys, "info", *([name] if name else []))
        assert code == 0 and out.splitlines()[0] == (
            f"checkpoint: {name or 'celeba32'} (shipped: {use}"
            + (", as CelebA's)" if not name else ", faces in a wider frame)"))
    # A file named as a shipped pair is that file, and said to be (as load_model reads it)
    monkeypatch.chdir(tiny_checkpoint.parent)
    tiny_checkpoint.rename("faces")
    code, out, _ = run(capsys, "info", "faces")
    assert code == 0 and out.startswith("checkpoint: faces\n") and "a pair" not in out


@pytest.mark.parametrize("case,fragment", [
    ("missing", "image not found"),
    ("not_image", "not a readable image: "),
    ("mask_size", "differs from face.png size (16, 16) (width, height)"),
    ("mask_turned", "differs from face.png size (16, 24) (width, height); images are read "
                    "upright, as viewers show them (EXIF orientation): paint the mask over"),
    ("corrupt_ckpt", "corrupt"),
    ("missing_ckpt", "checkpoint not found"),
])
def test_inpaint_bad_input(capsys, files, tmp_path, tiny_checkpoint, case, fragment):
    img, mask = files
    ckpt = tiny_checkpoint
    if case == "missing":
        img = tmp_path / "absent.png"
    elif case == "not_image":
        img = tmp_path / "text.png"
        img.write_text("plain text")
    elif case == "mask_size":
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(mask)
    elif case == "mask_turned":  # a phone photo, stored on its side, its mask over the stored
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° to display
        Image.fromarray(np.full((16, 24, 3), 99, np.uint8)).save(img, exif=exif)
        hole = np.zeros((16, 24), np.uint8)
        hole[4:9, 4:9] = 255
        Image.fromarray(hole).save(mask)
    elif case == "corrupt_ckpt":
        ckpt = tmp_path / "corrupt.safetensors"
        ckpt.write_bytes(tiny_checkpoint.read_bytes()[:50])
    elif case == "missing_ckpt":
        ckpt = tmp_path / "absent.safetensors"
    code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                       "--checkpoint", ckpt)
    assert code == 2
    one_line_error(err, fragment)
    if case == "not_image":
        one_line_error(err, "(not an image format this reads)")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("case,fragment", [
    ("sigma_is_output", "which -o writes too"),
    ("sigma_is_folder", "is a folder: give the σ map's file name"),
    ("output_is_input", "is the input image: the output would overwrite it"),
    ("output_is_folder", "it is a folder"),
    ("parent_is_file", "face.png is a file, not a folder"),
    ("samples_and_scale", "--samples draws completions at x1"),
    ("samples_and_flips", "--flips averages the one mean fill: choose one of them"),
    ("samples_and_rounds", "--rounds averages the one mean fill: choose one of them"),
    ("negative_samples", "--samples K draws K completions"),
    ("output_is_mask", "-o MASK is the mask: the output would overwrite it"),
    ("mask_folder", "is a folder, but the image is one file"),
    ("zero_one_mask", "holds only 0s and 1s"),
    ("empty_mask", "the mask of face.png has no hole"),
    ("run_folder", "is a folder, not a checkpoint file (a run folder"),
    ("onnx_graph", "is an exported graph: run it with --backend onnxruntime or openvino"),
])
def test_inpaint_refuses_before_any_work(capsys, files, tmp_path, tiny_checkpoint, case,
                                         fragment):
    """What cannot go together, or would overwrite the input or another output, is one line
    before any work, and nothing is written."""
    img, mask = files
    out, ckpt, extra = tmp_path / "o.png", tiny_checkpoint, []
    if case == "sigma_is_output":
        extra = ["--uncertainty", tmp_path / "o"]  # would write o.png and o.npy
    elif case == "sigma_is_folder":
        extra = ["--uncertainty", tmp_path]  # once written as <tmp_path>.png beside it
    elif case == "output_is_input":
        out = img
    elif case == "output_is_mask":
        out = mask
    elif case == "output_is_folder":
        out = tmp_path
    elif case == "parent_is_file":
        out = img / "o.png"
    elif case == "samples_and_scale":
        extra = ["--samples", 2, "--scale", 2]
    elif case == "samples_and_flips":
        extra = ["--samples", 2, "--flips", 2]
    elif case == "samples_and_rounds":
        extra = ["--samples", 2, "--rounds", 2]
    elif case == "negative_samples":
        extra = ["--samples", -1]
    elif case == "mask_folder":
        mask = tmp_path
    elif case in ("zero_one_mask", "empty_mask"):
        hole = np.zeros((16, 16), np.uint8)
        hole[4:9, 4:9] = 1 if case == "zero_one_mask" else 0
        Image.fromarray(hole).save(mask)
    elif case == "run_folder":
        ckpt = tmp_path / "run"
        ckpt.mkdir()
        (ckpt / "last.safetensors").write_bytes(tiny_checkpoint.read_bytes())
    elif case == "onnx_graph":
        ckpt = tmp_path / "model.onnx"
        ckpt.write_bytes(b"onnx")
    before = sorted(tmp_path.rglob("*"))
    code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", out,
                       "--checkpoint", ckpt, *extra)
    assert code == 2
    one_line_error(err, fragment.replace("MASK", str(mask)))
    assert sorted(tmp_path.rglob("*")) == before
    assert Image.open(img).getpixel((0, 0)) == (120, 120, 120)


@pytest.mark.parametrize("argv,fragment", [
    (["train", "--steps", "0"], "steps must be a positive integer, got 0"),
    (["train", "--batch", "0"], "batch must be a positive integer, got 0"),
    (["train", "--out", "FILE"], "is a file: --out names the folder to write into"),
    (["demo", "-o", "FILE"], "is a file: -o names the folder to write into"),
    (["train", "--batch", "500"], "training images for a batch of 500: more images, or --batch"),
    (["train", "--set", "p_max=1.5"], "hole ratio must be in [0, 1], got 1.5"),
    (["train", "--set", "p_min=0.95"], "p_min 0.95 is above p_max 0.9"),
])
def test_bad_numbers_and_files_are_one_line(capsys, image_folder, tmp_path, argv, fragment):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    argv = [str(afile) if a == "FILE" else a for a in argv]
    if argv[0] == "train":
        argv += ["--data", str(image_folder), "--quiet"]
        if "--out" not in argv:
            argv += ["--out", str(tmp_path / "r")]
    code, _, err = run(capsys, *argv)
    assert code == 2
    one_line_error(err, fragment)
    assert afile.read_text() == "keep me" and not (tmp_path / "r").exists()


def test_a_folder_run_names_what_is_wrong(capsys, tmp_path, image_folder, tiny_checkpoint):
    empty, masks = tmp_path / "empty", tmp_path / "masks"
    empty.mkdir()
    masks.mkdir()
    code, _, err = run(capsys, "inpaint", empty, "--mask", masks, "-o", tmp_path / "out")
    assert code == 2
    one_line_error(err, f"no images in {empty} (.bmp")
    code, _, err = run(capsys, "inpaint", image_folder, "--mask", masks, "-o",
                       tmp_path / "o.png", "--checkpoint", tiny_checkpoint)
    assert code == 2
    one_line_error(err, "names a file, but IMAGE is a folder")
    assert not (tmp_path / "o.png").exists()
    before = sorted(p.stat().st_mtime_ns for p in image_folder.iterdir())
    for folder, what in ((image_folder, "image"), (masks, "mask")):
        code, _, err = run(capsys, "inpaint", image_folder, "--mask", masks, "-o", folder)
        assert code == 2
        one_line_error(err, f"is the {what} folder: the results would overwrite the {what}s")
    assert sorted(p.stat().st_mtime_ns for p in image_folder.iterdir()) == before


def test_quiet_silences_the_data_decoding_too(capsys, image_folder, tmp_path):
    argv = ["train", "--data", image_folder, "--steps", 1, "--batch", 4]
    code, _, err = run(capsys, *argv, "--size", 16, "--out", tmp_path / "a")
    assert code == 0 and "decoding folder" in err  # a fresh decode cache each test
    code, _, err = run(capsys, *argv, "--size", 24, "--out", tmp_path / "b", "--quiet")
    assert code == 0 and err == ""  # another size: decoded afresh, silently


def test_a_truncated_16_bit_png_is_one_line(capfd, files, tmp_path):
    """OpenCV decodes 16-bit colour; its libpng prints to the C-level stderr on a truncated
    file, so such a file goes to Pillow, whose error is the one line."""
    import cv2

    img, mask = files
    wide = np.full((16, 16, 3), 30000, np.uint16)
    data = cv2.imencode(".png", wide)[1].tobytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    code = main(["inpaint", str(tmp_path / "cut.png"), "--mask", str(mask),
                 "-o", str(tmp_path / "o.png")])
    err = capfd.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        f"impaint: error: not a readable image: {tmp_path / 'cut.png'} (truncated or damaged)"]


def test_serve_refuses_a_host_it_cannot_listen_on(capsys):
    code, _, err = run(capsys, "serve", "--host", "999.1.1.1")
    assert code == 2 and "warning" not in err
    one_line_error(err, "--host 999.1.1.1 is not an address to listen on")


def test_serve_port_out_of_range(capsys):
    code, _, err = run(capsys, "serve", "--port", "99999")
    assert code == 2
    one_line_error(err, "--port 99999 is not a port (0-65535)")


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_serve_upload_cap_must_be_finite(capsys, value):
    code, out, err = run(capsys, "serve", "--port", "0", "--max-upload-mb", value)
    assert code == 2 and out == ""  # refused before the model loads and the URL is printed
    one_line_error(err, f"--max-upload-mb must be a finite number of MB, not {value}")


@pytest.mark.parametrize("setting,fragment", [
    ("gamma=1", "unknown config key 'gamma'"),
    ("mask_families=random,blob", "unknown mask family 'blob'"),
    ("batch=many", "bad value 'many' for batch"),
])
def test_train_bad_config(capsys, image_folder, tmp_path, setting, fragment):
    code, _, err = run(capsys, "train", "--data", image_folder, "--out", tmp_path / "r",
                       "--steps", 1, "--set", setting, "--quiet")
    assert code == 2
    one_line_error(err, fragment)


def test_train_missing_data(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--data", tmp_path / "nowhere", "--out", tmp_path / "r")
    assert code == 2
    one_line_error(err, "not found")


def test_train_and_resume_through_the_cli(capsys, image_folder, tmp_path):
    common = ["train", "--data", image_folder, "--out", tmp_path / "r", "--batch", 8,
              "--size", 16, "--fp32", "--quiet", "--set", "valid_every=1",
              "--set", "model.width=8", "--set", "model.hidden=16"]
    assert run(capsys, *common, "--steps", 1)[0] == 0
    code, out, _ = run(capsys, *common, "--steps", 2, "--resume")
    assert code == 0 and "steps 1->2" in out
    last = tmp_path / "r" / "last.safetensors"
    before = last.read_bytes()
    # Without --steps a finished run stays at its own 2 steps (not the default 12,000) ...
    code, out, _ = run(capsys, *common, "--resume")
    assert code == 0 and "is already at step 2, its last: nothing to train" in out
    # ... and fewer steps than it has trained is refused in one line, the run untouched.
    code, _, err = run(capsys, *common, "--steps", 1, "--resume")
    assert code == 2
    one_line_error(err, "--steps 1 is below the 2 steps")
    assert last.read_bytes() == before
    # A setting given at its default is given all the same: --batch 64 against the run's 8.
    code, _, err = run(capsys, "train", "--out", tmp_path / "r", "--batch", 64, "--resume")
    assert code == 2
    one_line_error(err, "differs in batch 64 (the run's: 8)")
    # --set out= names the run folder as --out does: on to the run's own 2 steps, not 12,000.
    code, out, _ = run(capsys, "train", "--set", f"out={tmp_path / 'r'}", "--resume", "--quiet")
    assert code == 0 and "is already at step 2, its last" in out
    assert last.read_bytes() == before


def test_batch_reports_each_failure_and_writes_the_rest(capsys, tmp_path, tiny_checkpoint):
    imgs, masks, out_dir = tmp_path / "imgs", tmp_path / "masks", tmp_path / "out"
    imgs.mkdir()
    masks.mkdir()
    hole = np.zeros((16, 16), np.uint8)
    hole[4:9, 4:9] = 255
    for i in range(5):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(imgs / f"p{i}.png")
        Image.fromarray(hole).save(masks / f"p{i}.png")
    (imgs / "p2.png").write_text("not an image")  # the bad image, third of five
    Image.fromarray(hole[:8, :8]).save(masks / "p4.png")  # a mask of another size
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(imgs / "lonely.png")  # no mask
    (imgs / "2025").mkdir()  # a folder inside: not read, and said so
    code, out, err = run(capsys, "inpaint", imgs, "--mask", masks, "-o", out_dir,
                         "--checkpoint", tiny_checkpoint, "--quiet")
    assert code == 1 and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["p0.png", "p1.png", "p3.png"]
    failed = [line for line in err.splitlines() if line.startswith("impaint: failed:")]
    assert len(failed) == 2
    # the file first, named once, whatever the reason's own wording
    assert failed[0].startswith(f"impaint: failed: {imgs / 'p2.png'}: not a readable image")
    assert failed[0].count("p2.png") == 1
    assert failed[1].startswith(f"impaint: failed: {imgs / 'p4.png'}: ")
    assert "differs from p4.png size" in failed[1]
    assert [line for line in err.splitlines() if "skipped" in line] == \
        [f"impaint: skipped: {imgs / 'lonely.png'} (no lonely.* in {masks})"]
    assert out.strip() == (f"{out_dir}: written 3, failed 2, skipped 1 (no mask of the same "
                           "name); 1 folder inside not read")


def test_batch_without_failures_exits_0(capsys, files, tmp_path, tiny_checkpoint):
    img, mask = files
    (tmp_path / "masks").mkdir()
    mask.rename(tmp_path / "masks" / "face.png")
    (tmp_path / "imgs").mkdir()
    img.rename(tmp_path / "imgs" / "face.png")
    code, out, _ = run(capsys, "inpaint", tmp_path / "imgs", "--mask", tmp_path / "masks",
                       "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint, "--quiet")
    assert code == 0 and "written 1, failed 0, skipped 0" in out
    # A GIF, which one image's run reads (its first frame), is read in a folder too.
    Image.open(tmp_path / "imgs" / "face.png").save(tmp_path / "imgs" / "anim.gif")
    shutil.copy(tmp_path / "masks" / "face.png", tmp_path / "masks" / "anim.png")
    code, out, _ = run(capsys, "inpaint", tmp_path / "imgs", "--mask", tmp_path / "masks",
                       "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint, "--quiet")
    assert code == 0 and "written 2, failed 0, skipped 0" in out
    assert (tmp_path / "out" / "anim.png").is_file()
    # A GIF beside an image of its name is its preview: the image is filled, not a clash.
    Image.open(tmp_path / "imgs" / "face.png").save(tmp_path / "imgs" / "face.gif")
    code, out, _ = run(capsys, "inpaint", tmp_path / "imgs", "--mask", tmp_path / "masks",
                       "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint, "--quiet")
    assert code == 0 and "written 2, failed 0, skipped 0" in out


def test_invert_mask_and_scale_reach_one_image_and_a_folder(capsys, files, tmp_path,
                                                           tiny_checkpoint):
    """--invert-mask (white = known) and --scale, through the CLI, for one image and for a
    folder: the known pixels exact (as K x K blocks), the hole filled."""
    img, mask = files
    known = np.asarray(Image.open(mask)) < 128  # white = hole in the fixture's mask file
    Image.fromarray(np.where(known, 255, 0).astype(np.uint8)).save(tmp_path / "inv.png")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "masks").mkdir()
    shutil.copy(img, tmp_path / "imgs" / "face.png")
    shutil.copy(tmp_path / "inv.png", tmp_path / "masks" / "face.png")
    for source, hole, out in ((img, tmp_path / "inv.png", tmp_path / "one.png"),
                              (tmp_path / "imgs", tmp_path / "masks", tmp_path / "dir")):
        code, _, err = run(capsys, "inpaint", source, "--mask", hole, "-o", out, "--scale", "2",
                           "--invert-mask", "--checkpoint", tiny_checkpoint, "--quiet")
        assert code == 0, err
        result = np.asarray(Image.open(out if out.suffix else out / "face.png").convert("RGB"))
        big_known = known.repeat(2, 0).repeat(2, 1)
        assert result.shape == (32, 32, 3)
        assert (result[big_known] == 120).all() and (result[~big_known] != 120).any()


def test_ctrl_c_while_inpainting_says_no_image_is_half_written(capsys, monkeypatch, files,
                                                               tmp_path, tiny_checkpoint):
    import impaint.inference.files as files_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(files_module, "write_image", interrupted)
    img, mask = files
    code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                       "--checkpoint", tiny_checkpoint, "--quiet")
    assert code == 130
    assert err == ("impaint: interrupted (each image already written is whole: none is "
                   "half-written)\n")


def test_a_batch_checks_its_output_folder_before_the_model_loads(capsys, files, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    under = tmp_path / "notes.txt" / "out"
    code, _, err = run(capsys, "inpaint", files[0].parent, "--mask", files[0].parent, "-o",
                       under, "--checkpoint", tmp_path / "no-such.safetensors")
    assert code == 2  # the output, not the missing checkpoint: said before it is loaded
    one_line_error(err, f"cannot write {under}: {tmp_path / 'notes.txt'} is a file, not a "
                        "folder")
    for image in (files[0].parent, files[0]):  # "" (an unset variable) is not "."
        code, _, err = run(capsys, "inpaint", image, "--mask", files[1] if image.is_file()
                           else files[0].parent, "-o", "", "--checkpoint", tmp_path / "no.st")
        assert code == 2
        one_line_error(err, f"-o is empty: name the {'file' if image.is_file() else 'folder'}")


@pytest.mark.parametrize("option", ["-o", "--uncertainty"])
def test_a_folder_no_file_can_be_made_in_is_one_line_before_the_model_loads(
        capsys, files, tmp_path, monkeypatch, option):
    """Before any work, a file is made (and dropped) in each output's folder: one the user
    may not write in is one line that names it, not a traceback after the fill. chmod does
    not lock a folder for root, so the probe fails there as the OS would; the checkpoint
    does not exist, so a check after the model's load would say that instead."""
    import errno
    import os
    import tempfile
    from pathlib import Path

    import impaint.inference.image_write as image_write

    locked = tmp_path / "locked"
    locked.mkdir()
    real = tempfile.TemporaryFile

    def probe(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(locked))
        return real(*args, dir=dir, **kwargs)
    monkeypatch.setattr(image_write.tempfile, "TemporaryFile", probe)
    img, mask = files
    outputs = (["-o", locked / "o.png"] if option == "-o" else
               ["-o", tmp_path / "o.png", "--uncertainty", locked / "sigma.png"])
    before = sorted(tmp_path.rglob("*"))
    code, out, err = run(capsys, "inpaint", img, "--mask", mask, *outputs, "--checkpoint",
                         tmp_path / "no-such.safetensors")
    assert code == 2 and out == "" and sorted(tmp_path.rglob("*")) == before
    assert err.strip().splitlines() == [f"impaint: error: cannot write in {locked}: no file "
                                        "can be made there (Permission denied)"]


def test_a_huge_samples_count_is_one_line_at_once(capsys, files, tmp_path, tiny_checkpoint):
    img, mask = files
    code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "s.png",
                       "--samples", "1000000", "--checkpoint", tiny_checkpoint)
    assert code == 2
    one_line_error(err, "(0, the default: one fill; at most 1,000), got 1,000,000")
    code, _, err = run(capsys, "sample", "1000001", "-o", tmp_path / "smp")
    assert code == 2
    one_line_error(err, "the number of samples is from 1 to 1,000, got 1,000,001")
    assert not list(tmp_path.glob("s*"))


def test_batch_never_writes_two_results_to_one_name(capsys, tmp_path, tiny_checkpoint):
    # a.jpg and a.png would both write out/a.png; b has two masks: neither is guessed.
    imgs, masks, out_dir = tmp_path / "imgs", tmp_path / "masks", tmp_path / "out"
    imgs.mkdir()
    masks.mkdir()
    hole = np.zeros((16, 16), np.uint8)
    hole[4:9, 4:9] = 255
    for name, grey in [("a.jpg", 50), ("a.png", 200), ("b.png", 90), ("c.png", 120)]:
        Image.fromarray(np.full((16, 16, 3), grey, np.uint8)).save(imgs / name)
    for name in ["a.png", "b.png", "b.jpg", "c.png"]:
        Image.fromarray(hole).save(masks / name)
    code, out, err = run(capsys, "inpaint", imgs, "--mask", masks, "-o", out_dir,
                         "--checkpoint", tiny_checkpoint, "--quiet")
    assert code == 1
    failed = sorted(line for line in err.splitlines() if line.startswith("impaint: failed:"))
    assert len(failed) == 2
    assert "a.png" in failed[0] and "a.jpg has the same name and writes a.png" in failed[0]
    assert "b.png" in failed[1] and "more than one mask of that name: b.jpg, b.png" in failed[1]
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.png", "c.png"]
    # out/a.png is a.jpg's fill (grey 50 where known), not overwritten by a.png's (200).
    assert abs(int(np.asarray(Image.open(out_dir / "a.png"))[0, 0, 0]) - 50) <= 2
    assert out.strip() == f"{out_dir}: written 2, failed 2, skipped 0 (no mask of the same name)"


def tiny_train(data, out, *extra):
    return ["train", "--data", data, "--out", out, "--steps", "2", "--batch", "8", "--size",
            "16", "--quiet", "--fp32", "--set", "valid_every=2", "--set", "valid_images=8",
            "--set", "model.width=8", "--set", "model.coarse_width=12",
            "--set", "model.hidden=16", "--set", "model.depth=2", *extra]


def snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def read_steps(out):
    from impaint.model import read_checkpoint
    return read_checkpoint(out / "last.safetensors")[1]["step"]


def test_training_into_a_run_folder_stops_unless_resume_or_overwrite(capsys, image_folder,
                                                                      tmp_path):
    out = tmp_path / "run"
    assert run(capsys, *tiny_train(image_folder, out))[0] == 0
    before = snapshot(out)
    code, _, err = run(capsys, *tiny_train(image_folder, out, "--steps", "4"))
    assert code == 2 and snapshot(out) == before  # nothing touched
    one_line_error(err, "already holds a run (last.safetensors at step 2 of 2): add --resume "
                        "to continue it, or --overwrite to replace it")

    code, _, err = run(capsys, *tiny_train(image_folder, out, "--resume", "--overwrite"))
    assert code == 2 and snapshot(out) == before
    one_line_error(err, "give one of them")

    assert run(capsys, *tiny_train(image_folder, out, "--steps", "3", "--resume"))[0] == 0
    assert read_steps(out) == 3
    # other images, resumed: allowed (a folder moves), and said
    from tests.helpers import make_images
    make_images(tmp_path / "other", 24, seed=5)
    code, _, err = run(capsys, *tiny_train(tmp_path / "other", out, "--steps", "4", "--resume"))
    assert code == 0 and f"impaint: note: --data {tmp_path / 'other'} is not the run's own" in err
    assert read_steps(out) == 4

    assert run(capsys, *tiny_train(image_folder, out, "--overwrite", "--set", "seed=1"))[0] == 0
    assert read_steps(out) == 2  # a new run, from step 0
    assert [r.split(",")[0] for r in (out / "log.csv").read_text().split()[1:]] == ["1", "2"]


def test_a_run_with_best_but_no_last_checkpoint_points_one_way_on(capsys, image_folder,
                                                                   tmp_path):
    """A run stopped before its last.safetensors was written: neither --resume nor a plain
    rerun can go on, and both say what can (not each other)."""
    out = tmp_path / "run"
    assert run(capsys, *tiny_train(image_folder, out))[0] == 0
    (out / "last.safetensors").unlink()
    for extra in ((), ("--resume",)):
        code, _, err = run(capsys, *tiny_train(image_folder, out, *extra))
        assert code == 2
        one_line_error(err, "no last.safetensors to resume from")
        assert "--overwrite" in err and f"--set init={out / 'best.safetensors'}" in err
        assert "add --resume" not in err and "leave out --resume" not in err


def test_resume_without_a_checkpoint_says_so(capsys, image_folder, tmp_path):
    code, _, err = run(capsys, *tiny_train(image_folder, tmp_path / "none", "--resume"))
    assert code == 2 and not (tmp_path / "none").exists()
    one_line_error(err, "--resume: no checkpoint in")
    assert "leave out --resume to start a new run there" in err


def test_every_command_that_writes_files_takes_o_and_out():
    from impaint.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    writers = {name for name, p in commands.items()
               if any("--out" in a.option_strings for a in p._actions)}
    assert writers == {"train", "inpaint", "sample", "resolution", "demo", "reproduce", "ablate",
                       "crops", "export", "scales",
                       "evaluate"}
    for name in writers:
        out = next(a for a in commands[name]._actions if "--out" in a.option_strings)
        assert "-o" in out.option_strings, name
    inpaint = next(a for a in commands["inpaint"]._actions if "-o" in a.option_strings)
    assert "--output" in inpaint.option_strings  # the old spelling still works


def test_inpaint_takes_out_as_well_as_o(capsys, files, tmp_path, tiny_checkpoint):
    img, mask = files
    code, _, _ = run(capsys, "inpaint", img, "--mask", mask, "--out", tmp_path / "o.png",
                     "--checkpoint", tiny_checkpoint)
    assert code == 0 and (tmp_path / "o.png").exists()


@pytest.mark.parametrize("given", ["a file", "a folder"])
def test_inpaint_fills_with_the_general_model_by_default(capsys, files, tmp_path,
                                                         tiny_checkpoint, monkeypatch, given):
    """With no --checkpoint, one image and a folder of them are filled by `general` (photos
    of any size), not by the 32-px faces model: the model asked for is recorded, and the tiny
    one filled in its place."""
    import impaint.inference.files as files_module

    asked, real = [], files_module.load_model_or_backend

    def load(checkpoint, *args):
        asked.append(checkpoint)
        return real(tiny_checkpoint, *args)
    monkeypatch.setattr(files_module, "load_model_or_backend", load)
    img, mask = files
    out, written = tmp_path / "o.png", tmp_path / "o.png"
    if given == "a folder":
        (tmp_path / "imgs").mkdir()
        (tmp_path / "masks").mkdir()
        img = img.rename(tmp_path / "imgs" / "face.png").parent
        mask = mask.rename(tmp_path / "masks" / "face.png").parent
        out, written = tmp_path / "out", tmp_path / "out" / "face.png"
    code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", out, "--quiet")
    assert code == 0 and asked == ["general"] and written.is_file(), err


def test_samples_from_the_shipped_model_say_what_model_they_need(capsys, tmp_path):
    code, _, err = run(capsys, "sample", "2", "-o", tmp_path / "s")
    assert code == 2
    one_line_error(err, "train one with --set model.latent_dim=8")


@pytest.mark.parametrize("backend", ["auto", "onnxruntime", "openvino"])
def test_inpaint_backends_write_the_same_image(capsys, files, tmp_path, tiny_checkpoint, backend,
                                              monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    monkeypatch.setenv("IMPAINT_FP32", "0")  # --fp32 sets it to 1; restored after the test
    img, mask = files
    out = tmp_path / f"{backend}.png"
    code, _, _ = run(capsys, "inpaint", img, "--mask", mask, "-o", out, "--checkpoint",
                     tiny_checkpoint, "--backend", backend, "--fp32")
    assert code == 0
    assert run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "t.png",
               "--checkpoint", tiny_checkpoint, "--backend", "torch", "--fp32")[0] == 0
    a, b = (np.asarray(Image.open(p), np.int16) for p in (out, tmp_path / "t.png"))
    assert np.abs(a - b).max() <= 1  # fp32 on both; 8-bit rounding may differ by one


def test_explicit_runtime_without_it_is_one_line(capsys, files, tmp_path, monkeypatch,
                                                 tiny_checkpoint):
    monkeypatch.setattr("impaint.inference.onnx_backend.onnxruntime_available", lambda: False)
    monkeypatch.setattr("impaint.inference.onnx_backend.openvino_available", lambda: False)
    img, mask = files
    for backend, message in (("onnxruntime", "onnxruntime is not installed"),
                             ("openvino", "OpenVINO is not installed")):
        code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                           "--checkpoint", tiny_checkpoint, "--backend", backend)
        assert code == 2
        one_line_error(err, message)
    assert not (tmp_path / "o.png").exists()
    code, _, _ = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                     "--checkpoint", tiny_checkpoint, "--backend", "auto")  # PyTorch, no error
    assert code == 0 and (tmp_path / "o.png").exists()


def test_scale_with_a_graph_backend_is_one_line(capsys, files, tmp_path, tiny_checkpoint):
    img, mask = files
    code, _, err = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                       "--checkpoint", tiny_checkpoint, "--backend", "openvino", "--scale", "2")
    assert code == 2
    one_line_error(err, "--scale and --samples need the PyTorch model")
    code, _, _ = run(capsys, "inpaint", img, "--mask", mask, "-o", tmp_path / "o.png",
                     "--checkpoint", tiny_checkpoint, "--scale", "2", "--backend", "auto")
    assert code == 0


def test_export_writes_a_graph(capsys, tmp_path, tiny_checkpoint):
    pytest.importorskip("onnxruntime")
    code, out, _ = run(capsys, "export", "--checkpoint", tiny_checkpoint, "-o", tmp_path / "m.onnx")
    assert code == 0 and "outputs filled;" in out and (tmp_path / "m.onnx").stat().st_size > 0
    assert "celeba32" not in out
    stamp = (tmp_path / "m.onnx").stat().st_mtime_ns  # a graph there is kept, as a run is
    code, _, err = run(capsys, "export", "--checkpoint", tiny_checkpoint, "-o", tmp_path / "m.onnx")
    assert code == 2 and (tmp_path / "m.onnx").stat().st_mtime_ns == stamp
    one_line_error(err, "m.onnx exists: give --overwrite to replace it, or another -o")
    assert run(capsys, "export", "--checkpoint", tiny_checkpoint, "-o", tmp_path / "m.onnx",
               "--overwrite")[0] == 0


def test_export_by_default_says_which_model_it_wrote(capsys, tmp_path):
    # Not inpaint's and serve's default: the message says so, and how to get that one.
    pytest.importorskip("onnxruntime")
    code, out, _ = run(capsys, "export", "-o", tmp_path / "m.onnx")
    assert code == 0 and "from celeba32" in out and "--checkpoint general" in out


def test_export_to_an_openvino_name_without_int8_is_one_line(capsys, tmp_path, tiny_checkpoint):
    code, _, err = run(capsys, "export", "--checkpoint", tiny_checkpoint, "-o", tmp_path / "m.xml")
    assert code == 2
    one_line_error(err, "the fp32 graph is ONNX: -o " + str(tmp_path / "m.onnx"))
    assert not list(tmp_path.glob("m.*"))


def test_export_to_a_folder_is_one_line_and_leaves_nothing(capsys, tmp_path, tiny_checkpoint):
    (tmp_path / "photos").mkdir()
    code, _, err = run(capsys, "export", "--checkpoint", tiny_checkpoint, "-o",
                       tmp_path / "photos")
    assert code == 2
    one_line_error(err, f"-o {tmp_path / 'photos'} is a folder: -o names the file to write")
    assert not list((tmp_path / "photos").iterdir()) and not list(tmp_path.glob("*.tmp"))


# Each command's output and the least it needs to parse: the check comes before any of it.
WRITERS = {"train": ["--data", "D"], "crops": ["--photos", "D"], "export": [],
           "sample": ["2"], "resolution": ["--data", "D"], "scales": ["--data", "D"],
           "demo": [], "reproduce": ["--data", "D"], "ablate": ["--data", "D"],
           "evaluate": ["--data", "D"]}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_every_command_checks_its_output_before_its_work(capsys, tmp_path, command):
    """An output under a file, or an empty one (an unset shell variable: the current
    folder), is one line at once, the same in every command, with nothing written."""
    from impaint.cli import OUTPUTS

    (tmp_path / "file").write_text("mine")
    flag = OUTPUTS[command][2] if len(OUTPUTS[command]) > 2 else "-o"
    kind = OUTPUTS[command][1]
    args = [a.replace("D", str(tmp_path / "nowhere")) for a in WRITERS[command]]
    under = tmp_path / "file" / ("out" if kind == "folder" else "out.safetensors")
    for out, message in ((under, f"cannot write {under}: {tmp_path / 'file'} is a file, not "
                                 "a folder"),
                         ("", f"{flag} is empty: name the {kind} to write")):
        code, _, err = run(capsys, command, *args, flag, out)
        assert code == 2
        one_line_error(err, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("argv, message", [
    # a folder asked for under a file: said before the work, not as the OS's "File exists"
    (["export", "--checkpoint", "CKPT", "-o", "FILE/m.onnx"],
     "cannot write FILE/m.onnx: FILE is a file, not a folder"),
    (["export", "--checkpoint", "CKPT", "-o", "OUT/m.txt"],
     "the graph is ONNX, name an .onnx file (-o OUT/m.onnx)"),
    (["scales", "--data", "IMAGES", "--folder", "--limit", "-1"], "--limit must be 0 (all) or"),
    (["scales", "--data", "IMAGES", "--folder", "--size", "0"], "--size must be from 16 to 1024"),
    (["scales", "--data", "IMAGES", "--folder", "--size", "100000"],
     "--size must be from 16 to 1024 px, got 100,000 (--native scores images at their own"),
    (["resolution", "--data", "IMAGES", "--checkpoint", "CKPT", "--limit", "-3"],
     "--limit must be 0 (all) or a number"),
    (["serve", "--checkpoint", "OUT/m.onnx", "--port", "0"],
     "m.onnx is an exported graph: the page renders x2 / x4 with the PyTorch model, so serve "
     "takes the checkpoint (--backend onnxruntime or openvino"),
    (["train", "--data", "IMAGES", "--device", "gpu"], "--device gpu is not a device"),
    (["train", "--data", "IMAGES", "--device", "cuda:99"],
     "--device cuda:99 asked for, but this machine has none (it has: cpu"),
    (["train", "--data", "IMAGES", "--limit", "-4"], "limit must be 0 (off) or positive"),
])
def test_bad_arguments_of_any_command_are_one_line(capsys, tmp_path, image_folder,
                                                   tiny_checkpoint, argv, message):
    (tmp_path / "file").write_text("a file, not a folder")
    names = {"FILE": tmp_path / "file", "OUT": tmp_path, "IMAGES": image_folder,
             "CKPT": tiny_checkpoint}
    for name, path in names.items():
        argv = [a.replace(name, str(path)) for a in argv]
        message = message.replace(name, str(path))
    before = sorted(tmp_path.rglob("*"))
    code, _, err = run(capsys, *argv)
    assert code == 2
    one_line_error(err, message)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_sample_into_a_path_under_a_file_is_one_line(capsys, tmp_path):
    from tests.helpers import stochastic_model
    from impaint.model import save_checkpoint

    model = stochastic_model()
    save_checkpoint(tmp_path / "latent.safetensors", model,
                    {"model_config": model.cfg.to_dict(), "image_size": 16})
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "sample", "2", "--checkpoint", tmp_path / "latent.safetensors",
                       "-o", tmp_path / "notes.txt")
    assert code == 2  # said before the work (it was "File exists: …", after it)
    one_line_error(err, f"-o {tmp_path / 'notes.txt'} is a file: -o names the folder to write "
                        "into")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def loaded_by(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `code`."""
    code += f"\nimport sys; print(sorted(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_the_cli_starts_without_loading_what_only_some_commands_need():
    # The web stack, plotting and SSIM cost ~0.35 s together: the commands that do not use
    # them must not pay for them.
    assert loaded_by("from impaint.cli import build_parser; build_parser()",
                     ("starlette", "uvicorn", "matplotlib", "skimage")) == []


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["inpain"]])
def test_impaint_help_answers_without_loading_torch(argv):
    # torch alone takes ~2 s to import: the package's names are imported on first use, and
    # the CLI builds only the arguments of the command it runs.
    status = 0 if argv and argv[0].startswith("--") else 2  # help and version, or a usage error
    code = (f"from impaint.cli import main\ntry:\n    main({argv!r})\n"
            f"except SystemExit as e:\n    assert e.code == {status}, e.code")
    assert loaded_by(code, ("torch", "numpy")) == []
    assert loaded_by("import impaint; impaint.make_mask", ("torch",)) == ["torch"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_commands_help_answers_without_loading_torch(command):
    # A command's arguments and their defaults (TrainConfig's, the flips, the backends) come
    # from modules that load no torch, so `impaint inpaint --help` answers at once.
    code = (f"from impaint.cli import main\ntry:\n    main([{command!r}, '--help'])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code")
    assert loaded_by(code, ("torch",)) == []
    assert loaded_by("import impaint.train; impaint.train.train", ("torch",)) == ["torch"]


def test_the_evaluate_help_names_every_table_mask_family():
    from impaint.data.masks import TABLE_MASKS

    assert TABLE_FAMILIES == tuple(TABLE_MASKS)


def test_ctrl_c_says_what_is_kept_only_where_something_is(monkeypatch, capsys):
    import impaint.model

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(impaint.model, "load_model", interrupted)
    assert main(["info"]) == 130
    assert capsys.readouterr().err.strip() == "impaint: interrupted"  # info writes nothing


@pytest.mark.parametrize("command", [["sample", "4"], ["inpaint", "a.png", "--mask", "m.png",
                                                      "-o", "o.png", "--samples", "2"],
                                     ["train", "--data", "d"], ["evaluate", "--data", "d"]])
@pytest.mark.parametrize("seed", ["10000000000000", "-1"])
def test_a_seed_out_of_range_is_refused_by_the_parser_at_once(capsys, command, seed):
    """Once an overflow deep in a generator (sample, inpaint --samples), after the work."""
    with pytest.raises(SystemExit) as stop:
        main([*command, "--seed", seed])
    assert stop.value.code == 2
    one_line_error(capsys.readouterr().err, f"argument --seed: seeds are whole numbers from 0 "
                                            f"to 4294967295, not '{seed}'")


def test_negative_rounds_are_refused_by_the_parser_at_once(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["inpaint", "a.png", "--mask", "m.png", "-o", "o.png", "--rounds", "-1"])
    assert stop.value.code == 2
    one_line_error(capsys.readouterr().err,
                   "argument --rounds: re-fill rounds are 0 or more, not '-1'")
