import csv
import math
import re
import sys

import pytest
import torch

from impaint.model import downsample, load_model, read_checkpoint
from impaint.notes import ImpaintWarning
from impaint.train import TrainingError, train
from tests.helpers import TINY, tiny_config


def test_two_steps_write_a_checkpoint_that_reloads_to_identical_outputs(image_folder, tmp_path):
    torch.manual_seed(1234)
    cfg = tiny_config(image_folder, tmp_path / "run")
    cfg.data, cfg.out = image_folder, tmp_path / "run"  # as Path objects: saved as their str
    ckpt = train(cfg, progress=False)
    drawn = torch.rand(3)  # the caller's generator, as if training had not drawn from it
    assert torch.equal(drawn, torch.rand(3, generator=torch.Generator().manual_seed(1234)))
    _, state = read_checkpoint(ckpt)
    assert state["step"] == 2 and state["image_size"] == 16
    assert state["train_config"]["out"] == str(tmp_path / "run")
    model = load_model(ckpt)
    again = load_model(ckpt)
    img, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    assert torch.equal(model(img, mask), again(img, mask))
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [r["step"] for r in rows] == ["1", "2"] and rows[-1]["valid_psnr_hole"]
    assert (tmp_path / "run" / "curve.png").stat().st_size > 1000
    assert (tmp_path / "run" / "best.safetensors").exists()


def test_resume_continues_exactly_where_it_stopped(image_folder, tmp_path):
    straight = train(tiny_config(image_folder, tmp_path / "a", steps=4), progress=False)
    train(tiny_config(image_folder, tmp_path / "b", steps=2), progress=False)
    resumed = train(tiny_config(image_folder, tmp_path / "b", steps=4), resume=True,
                    progress=False)
    a, b = read_checkpoint(straight)[0], read_checkpoint(resumed)[0]
    assert a.keys() == b.keys()
    assert not [k for k in a if not torch.equal(a[k], b[k])]  # bit for bit
    assert read_checkpoint(resumed)[1]["step"] == 4
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(image_folder, tmp_path,
                                                           monkeypatch):
    import impaint.train.loop as train_module
    real, calls = train_module.inpainting_loss, []

    def nan_on_third_step(*args):
        calls.append(1)
        loss, parts = real(*args)
        return (loss * float("nan") if len(calls) == 3 else loss), parts

    monkeypatch.setattr(train_module, "inpainting_loss", nan_on_third_step)
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match="loss became nan at step 2; stopped, the last "
                                            r"good checkpoint is .*last.safetensors \(step 2\)"):
        train(tiny_config(image_folder, out, steps=4), progress=False)
    state = read_checkpoint(out / "last.safetensors")[1]
    assert state["step"] == 2  # the checkpoint written before the NaN, intact
    assert all(torch.isfinite(v).all() for v in load_model(out / "last.safetensors")
               .state_dict().values())


def test_nan_loss_before_any_checkpoint_says_none_was_saved(image_folder, tmp_path,
                                                            monkeypatch):
    """Not a path that does not exist, nor an earlier run's file that --overwrite replaces."""
    import impaint.train.loop as train_module
    real = train_module.inpainting_loss
    out = tmp_path / "run"
    train(tiny_config(image_folder, out, steps=2), progress=False)  # an earlier run's files
    monkeypatch.setattr(train_module, "inpainting_loss",
                        lambda *args: (real(*args)[0] * float("nan"), real(*args)[1]))
    with pytest.raises(TrainingError, match="loss became nan at step 0; stopped, no checkpoint "
                                            "of this run was saved yet$"):
        train(tiny_config(image_folder, out, steps=4), progress=False, overwrite=True)


def test_probabilistic_training_learns_sigma(image_folder, tmp_path):
    from dataclasses import replace
    cfg = tiny_config(image_folder, tmp_path / "p", steps=4)
    cfg.model = replace(TINY, probabilistic=True)
    ckpt = train(cfg, progress=False)
    model = load_model(ckpt)
    img, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    mean, sigma = model.forward_dist(img, mask)
    assert model.cfg.probabilistic and sigma.shape == mean.shape and (sigma > 0).all()
    # Against the same run at lr 0 (its starting weights, bit for bit): the σ rows of the
    # output layer (network: σ is raw[:, C:]) moved; a fresh model's differ anyway.
    cfg.lr, cfg.out = 0.0, str(tmp_path / "still")
    start = load_model(train(cfg, progress=False))
    c = model.cfg.channels
    assert not torch.equal(start.decoder.out.weight[c:], model.decoder.out.weight[c:])


def test_mse_on_all_pixels_trains_a_different_model(image_folder, tmp_path):
    hole = read_checkpoint(train(tiny_config(image_folder, tmp_path / "h"), progress=False))[0]
    cfg = tiny_config(image_folder, tmp_path / "a")
    cfg.mse_on = "all"
    every = read_checkpoint(train(cfg, progress=False))[0]
    assert any(not torch.equal(hole[k], every[k]) for k in hole)
    cfg.mse_on, cfg.out = "everywhere", str(tmp_path / "b")  # "a" holds a run: refused first
    with pytest.raises(ValueError, match="mse_on"):
        train(cfg, progress=False)


def test_a_logged_bar_counts_the_steps_its_lines_name(image_folder, tmp_path, capsys,
                                                      monkeypatch):
    """Off a terminal the bar redraws rarely; a `step N:` line must not sit beside a bar
    that still says 0/N (`impaint train > log 2>&1`: both streams in one file)."""
    monkeypatch.setattr(sys, "stdout", sys.stderr)
    train(tiny_config(image_folder, tmp_path / "run", steps=4), progress=True)
    drawn = [d.strip() for d in re.split(r"[\r\n]", capsys.readouterr().err) if d.strip()]
    after = drawn[[d.startswith("step 2:") for d in drawn].index(True) + 1]
    assert after.startswith("train:") and "2/4" in after  # the bar drawn again under it
    assert sum("4/4" in d for d in drawn) == 1  # the last step's bar, once


def test_stochastic_latent_training_fits_prior_and_posterior(image_folder, tmp_path):
    from dataclasses import replace
    cfg = tiny_config(image_folder, tmp_path / "s", steps=3)
    cfg.model = replace(TINY, latent_dim=4)
    model = load_model(train(cfg, progress=False))
    cfg.lr, cfg.out = 0.0, str(tmp_path / "still")  # the same run's starting weights
    start = load_model(train(cfg, progress=False))
    assert not torch.equal(start.latent.posterior.weight, model.latent.posterior.weight)
    assert not torch.equal(start.latent.prior.weight, model.latent.prior.weight)


def test_resume_of_a_stochastic_latent_model_continues_exactly(image_folder, tmp_path):
    """The posterior's noise is drawn per step, as the batches are: stopping and resuming
    changes nothing (it was the global generator's, reseeded at each start)."""
    from dataclasses import replace

    def config(out, steps):
        cfg = tiny_config(image_folder, tmp_path / out, steps=steps)
        cfg.model = replace(TINY, latent_dim=4)
        return cfg

    straight = train(config("a", 4), progress=False)
    train(config("b", 2), progress=False)
    resumed = train(config("b", 4), resume=True, progress=False)
    a, b = read_checkpoint(straight)[0], read_checkpoint(resumed)[0]
    assert a.keys() == b.keys()
    assert not [k for k in a if not torch.equal(a[k], b[k])]  # bit for bit


def test_the_gated_unet_baseline_trains_and_reloads(image_folder, tmp_path):
    from dataclasses import replace
    from impaint.model.unet import GatedUNet
    cfg = tiny_config(image_folder, tmp_path / "u", steps=2)
    cfg.model = replace(TINY, arch="unet")
    model = load_model(train(cfg, progress=False))
    assert isinstance(model, GatedUNet)


def test_a_time_budget_stops_training_and_saves(image_folder, tmp_path, capsys):
    cfg = tiny_config(image_folder, tmp_path / "t", steps=10**6, time_budget=1e-9)
    ckpt = train(cfg, progress=False)
    _, state = read_checkpoint(ckpt)
    # The first step already spends the budget: one step, validated and saved.
    assert state["step"] == 1 and state["elapsed_seconds"] > 0
    rows = list(csv.DictReader(open(tmp_path / "t" / "log.csv")))
    assert len(rows) == 1 and rows[0]["valid_psnr_hole"]
    # Resuming an exhausted budget trains nothing more, and says so ...
    again = train(tiny_config(image_folder, tmp_path / "t", steps=10**6), resume=True,
                  progress=False)
    assert read_checkpoint(again)[1]["step"] == 1
    assert "has spent its time budget" in capsys.readouterr().out
    # ... and a budget of 0 given (--time-budget 0) turns it off: on to the steps.
    again = train(tiny_config(image_folder, tmp_path / "t", steps=2), resume=True,
                  progress=False, given={"steps", "time_budget"})
    assert read_checkpoint(again)[1]["step"] == 2


def test_128_px_trains_evaluates_and_inpaints_end_to_end(image_folder, tmp_path):
    import json

    from PIL import Image

    from impaint.cli import main
    cfg = tiny_config(image_folder, tmp_path / "r128", steps=1)
    cfg.size = 128
    with pytest.warns(ImpaintWarning, match="24 image.s. smaller than 128 px were enlarged"):
        ckpt = train(cfg, progress=False)  # the folder's images are 40 px
    assert load_model(ckpt).image_size == 128
    out = tmp_path / "eval"
    assert main(["evaluate", "--data", str(image_folder), "--checkpoint", str(ckpt), "--limit",
                 "2", "--grid-images", "0", "--families", "box", "--methods", "impaint:last",
                 "--quiet", "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {r["family"] for r in rows} == {"box"} and rows[0]["images"] == 2
    face, hole = tmp_path / "face.png", tmp_path / "hole.png"
    Image.new("RGB", (128, 128), (120, 90, 60)).save(face)
    m = Image.new("L", (128, 128), 0)
    m.paste(255, (40, 40, 90, 90))
    m.save(hole)
    filled = tmp_path / "filled.png"
    assert main(["inpaint", str(face), "--mask", str(hole), "-o", str(filled),
                 "--checkpoint", str(ckpt)]) == 0
    assert Image.open(filled).size == (128, 128)


def test_batches_drawn_ahead_by_a_worker_process_are_the_batches_drawn_in_turn():
    from impaint.data.masks import MixtureMask, mask_batch
    from impaint.train import prefetched

    def batch_for(step):  # a closure, as in train(): the forked worker needs no pickling
        return step, mask_batch(MixtureMask(), 4, 16, 16, torch.Generator().manual_seed(step))
    in_turn = list(prefetched(batch_for, range(3, 9), torch.device("cpu")))
    ahead = list(prefetched(batch_for, range(3, 9), torch.device("cuda")))  # the GPU's way
    assert [s for s, _ in ahead] == [s for s, _ in in_turn] == list(range(3, 9))
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(ahead, in_turn))


def test_render_scale_trains_the_decoder_on_the_render_at_twice_the_input_size(
        image_folder, tmp_path, monkeypatch):
    """What the training and validation steps give the model, spied on: the batch drawn at
    size x 2, downsampled to `size`, rendered at scale 2 and scored at the full size. Run at
    16 px with no downsampling (the loop ignoring render_scale), it trains a model of the
    same definition, which the checks on the checkpoint alone would pass."""
    import impaint.train.loop as loop
    seen, scored, real_set_up, real_loss = [], [], loop.set_up, loop.inpainting_loss

    def spied_set_up(*args):
        run = real_set_up(*args)
        run.model.register_forward_hook(
            lambda model, a, kw, out: seen.append((model.training, a[0], a[1], kw["scale"],
                                                   out[0] if model.training else out)),
            with_kwargs=True)
        return run

    def spied_loss(pred, composed, img, loss_mask, *rest):
        scored.append((pred, img, loss_mask))
        return real_loss(pred, composed, img, loss_mask, *rest)

    monkeypatch.setattr(loop, "set_up", spied_set_up)
    monkeypatch.setattr(loop, "inpainting_loss", spied_loss)
    cfg = tiny_config(image_folder, tmp_path / "run", render_scale=2)
    cfg.size = 8  # the images are loaded at 16 px, the model sees them at 8
    ckpt = train(cfg, progress=False)
    trained = [s for s in seen if s[0]]
    assert len(trained) == len(scored) == 2 and len(seen) == 3  # 2 steps, 1 validation
    for (_, lo, lo_mask, scale, out), (pred, img, mask) in zip(trained, scored):
        assert img.shape[-2:] == mask.shape[-2:] == pred.shape[-2:] == out.shape[-2:] == (16, 16)
        assert scale == 2 and all(torch.equal(a, b) for a, b in
                                  zip((lo, lo_mask), downsample(img, mask)))
    _, lo, lo_mask, scale, out = seen[-1]  # validation: as trained
    assert lo.shape[-1] == lo_mask.shape[-1] == 8 and scale == 2 and out.shape[-1] == 16
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert rows[-1]["valid_psnr_hole"] and math.isfinite(float(rows[-1]["loss"]))
    model = load_model(ckpt)  # the model's input size is `size`; it renders at 2x
    img, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.5).float()
    lo, lo_mask = downsample(img, mask)
    assert lo.shape[-1] == 8 and bool(((lo_mask == 1) <= (mask[..., ::2, ::2] == 1)).all())
    out = model(lo, lo_mask, scale=2)
    torch.testing.assert_close(out, model.render(model.encode(lo, lo_mask), 16, 16))
    with pytest.raises(ValueError, match="render_scale"):
        train(tiny_config(image_folder, tmp_path / "bad", render_scale=0), progress=False)


@pytest.mark.parametrize("stop", ["SIGKILL from outside", "SIGTERM from outside",
                                  "Ctrl-C mid-step"])
def test_a_stopped_run_resumes_to_the_weights_of_the_uninterrupted_run(image_folder, tmp_path,
                                                                       stop):
    """SIGKILL a training process between two checkpoints (it keeps the step-3 checkpoint),
    or SIGTERM it (a scheduler's stop) or Ctrl-C it inside step 5 (it finishes the step,
    saves it and exits 130 with a line that says so), then --resume: the final checkpoint
    (weights and optimiser moments) equals the uninterrupted run's, bit for bit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["train", "--data", str(image_folder), "--steps", "8", "--batch", "8", "--size", "16",
            "--quiet", "--set", "valid_every=3", "--set", "valid_images=8", "--set", "warmup=1"]
    args += [f"--set=model.{k}={v}" for k, v in
             (("width", 8), ("coarse_width", 12), ("hidden", 16), ("depth", 2))]
    run = [sys.executable, "-m", "impaint"]
    subprocess.run(run + args + ["--out", str(tmp_path / "straight")], check=True, timeout=300)

    # The victim parks inside its 5th step (checkpoint at step 3, steps 1-4 logged) and says
    # so; then a signal comes from outside, and the step goes on once it has come (SIGKILL
    # leaves no chance to clean up). Or it presses Ctrl-C (SIGINT to itself) inside that step.
    parked, go_on = tmp_path / "parked", tmp_path / "go_on"
    inside_step_5 = (f"        open({str(parked)!r}, 'w').close()\n"
                     f"        while not os.path.exists({str(go_on)!r}):\n"
                     "            time.sleep(0.05)\n"
                     if stop.endswith("from outside") else
                     "        os.kill(os.getpid(), signal.SIGINT)\n")
    victim = ("import os, signal, sys, time\nimport impaint.train.loop as loop\n"
              "from impaint.cli import main\nreal, calls = loop.inpainting_loss, []\n"
              "def parking_loss(*a):\n    calls.append(1)\n    if len(calls) == 5:\n"
              f"{inside_step_5}    return real(*a)\n"
              "loop.inpainting_loss = parking_loss\n"
              f"sys.exit(main({args + ['--out', str(tmp_path / 'killed')]!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", victim], stderr=subprocess.PIPE, text=True)
    try:
        if stop.endswith("from outside"):
            deadline = time.monotonic() + 300
            while not parked.exists():
                assert proc.poll() is None and time.monotonic() < deadline, "it did not park"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL if stop.startswith("SIGKILL") else signal.SIGTERM)
            go_on.touch()
        err = proc.communicate(timeout=300)[1]
    finally:
        proc.kill()  # a victim that hangs is not left behind
    last = tmp_path / "killed" / "last.safetensors"
    if stop.startswith("SIGKILL"):
        assert proc.returncode == -signal.SIGKILL
        assert read_checkpoint(last)[1]["step"] == 3
    else:
        assert proc.returncode == 130, err[-2000:]
        assert err.strip().splitlines()[-1] == (
            f"impaint: stopped at step 5 of 8: {last} is saved, --resume continues the run")
        assert read_checkpoint(last)[1]["step"] == 5

    # As a user would after a stop: --resume without --steps goes on to the run's own 8.
    at = args.index("--steps")
    resume = args[:at] + args[at + 2:]
    subprocess.run(run + resume + ["--out", str(tmp_path / "killed"), "--resume"], check=True,
                   timeout=300)
    (a, state_a), (b, state_b) = (read_checkpoint(tmp_path / run_dir / "last.safetensors")
                                  for run_dir in ("straight", "killed"))
    assert state_a["step"] == state_b["step"] == 8 and a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = list(csv.DictReader(open(tmp_path / "killed" / "log.csv")))
    assert [r["step"] for r in rows] == [str(s) for s in range(1, 9)]


def test_last_checkpoint_carries_the_best_score_of_its_own_validation(image_folder, tmp_path):
    """last.safetensors is written with the best so far, this validation's included: a run
    resumed from it keeps best.safetensors unless a later model truly beats it."""
    out = tmp_path / "run"
    train(tiny_config(image_folder, out, steps=6), progress=False)
    scores = [float(r["valid_psnr_hole"]) for r in csv.DictReader(open(out / "log.csv"))
              if r["valid_psnr_hole"]]
    last, best = (read_checkpoint(out / f)[1] for f in ("last.safetensors", "best.safetensors"))
    assert len(scores) == 3
    assert last["best_valid_psnr"] == pytest.approx(max(scores), abs=1e-3)
    assert best["best_valid_psnr"] == pytest.approx(max(scores), abs=1e-3)
    assert best["step"] == 2 * (1 + scores.index(max(scores)))
