"""Training in two processes (DDP over gloo, on the CPU) against the same run in one process."""

import csv
import subprocess
import sys

import pytest
import torch

from impaint.train import distributed
from impaint.model import read_checkpoint
from impaint.cli import main
from impaint.train import TrainConfig, TrainingError, train
from tests.helpers import TINY


def tiny_config(data, out, steps=3):
    return TrainConfig(data=str(data), out=str(out), steps=steps, batch=8, size=16,
                       valid_every=2, valid_images=8, amp=False, channels_last=False,
                       warmup=1, model=TINY)


def train_and_save_replica(cfg, folder):
    """A worker: train, then save this rank's own weights (rank 0's checkpoint alone would not
    show whether the replicas agree)."""
    replicas = []
    real_wrap = distributed.wrap

    def recording_wrap(model, device):
        replicas.append(model)
        return real_wrap(model, device)

    distributed.wrap = recording_wrap  # this worker process ends with the test
    train(cfg, progress=False)
    torch.save(replicas[0].state_dict(), folder / f"rank{distributed.rank()}.pt")


def test_two_processes_train_the_single_process_model(image_folder, tmp_path):
    distributed.launch(2, train_and_save_replica, tiny_config(image_folder, tmp_path / "ddp"),
                       tmp_path)
    single = train(tiny_config(image_folder, tmp_path / "one"), progress=False)

    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for k in rank0:  # DDP keeps the replicas identical, bit for bit
        assert torch.equal(rank0[k], rank1[k]), k
    # Rank 0's checkpoint: no `module.` prefix, optimizer state included, and the same model
    # as one process trained on the same global batches.
    ddp, state = read_checkpoint(tmp_path / "ddp" / "last.safetensors")
    one, _ = read_checkpoint(single)
    assert ddp.keys() == one.keys() and state["step"] == 3
    for k in one:
        torch.testing.assert_close(ddp[k], one[k], rtol=1e-4, atol=1e-5)
    for k in rank0:
        torch.testing.assert_close(rank0[k], one[f"model.{k}"], rtol=1e-4, atol=1e-5)
    # The log is rank 0's alone and records the global batch's loss.
    rows = [list(csv.DictReader(open(tmp_path / run / "log.csv"))) for run in ("ddp", "one")]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == ["1", "2", "3"]
    for a, b in zip(*rows):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), abs=2e-5)
        assert float(a["mse"]) == pytest.approx(float(b["mse"]), abs=2e-5)


def test_a_batch_that_does_not_split_over_the_processes_is_refused(image_folder, tmp_path,
                                                                   monkeypatch):
    # As rank 0 of 3 under torchrun: refused before it waits for the others.
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(TrainingError, match="batch 8 is not a multiple of the 3 processes"):
        train(tiny_config(image_folder, tmp_path / "r"), progress=False)


def test_cli_nproc_launches_workers(image_folder, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(distributed, "launch", lambda *args: calls.append(args))
    argv = ["train", "--data", str(image_folder), "--out", str(tmp_path / "r"), "--batch", "8"]
    assert main([*argv, "--nproc", "2", "--quiet"]) == 0
    nproc, fn, cfg, resume, progress, overwrite, given = calls[0]
    assert (nproc, fn, cfg.batch, resume, progress, overwrite) == (2, train, 8, False, False, False)
    assert given == {"data", "out", "batch"}
    # Resuming takes the run's own --data: the workers check its config, not this one.
    assert main(["train", "--out", str(tmp_path / "r"), "--resume", "--nproc", "2"]) == 0
    assert calls[1][2].data == "" and calls[1][3] is True
    capsys.readouterr()
    assert main([*argv[:-1], "9", "--nproc", "2"]) == 2 and len(calls) == 2  # none started
    assert capsys.readouterr().err.strip() == \
        "impaint: error: batch 9 is not a multiple of the 2 processes"
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun, --nproc would start 2 x 2
    assert main([*argv, "--nproc", "2"]) == 2
    assert "leave it out under torchrun" in capsys.readouterr().err


def test_python_m_impaint_train_takes_the_train_arguments():
    # What torchrun runs: `python -m impaint.train ARGS` is `impaint train ARGS`.
    done = subprocess.run([sys.executable, "-m", "impaint.train", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--nproc" in done.stdout and "--resume" in done.stdout


def objects_on_rank_1(folder):
    """A worker: rank 1 alone has a reason to stop; every rank must stop with it."""
    problem = "rank 1 objects" if distributed.rank() == 1 else None
    with distributed.process_group(torch.device("cpu")) as device:
        agreed = distributed.agree(problem, device)
    (folder / f"rank{distributed.rank()}.txt").write_text(agreed or "")


def test_one_rank_objecting_stops_every_rank(tmp_path):
    distributed.launch(2, objects_on_rank_1, tmp_path)
    assert (tmp_path / "rank1.txt").read_text() == "rank 1 objects"
    assert "1 other process(es) cannot start" in (tmp_path / "rank0.txt").read_text()


def test_two_processes_refuse_a_run_folder_that_holds_a_run_and_touch_nothing(
        image_folder, tmp_path, capsys):
    out = tmp_path / "r"
    train(tiny_config(image_folder, out, steps=2), progress=False)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    argv = ["train", "--data", str(image_folder), "--out", str(out), "--batch", "8",
            "--nproc", "2", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("impaint: error:") == 1 and "already holds a run" in err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before


def stop_in_step_2(cfg):
    """A worker whose rank 1 is asked to stop (as Ctrl-C asks) inside its second step."""
    import os
    import signal

    import impaint.train.loop as loop
    real, calls = loop.inpainting_loss, []

    def loss(*a):
        calls.append(1)
        if len(calls) == 2 and distributed.rank() == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*a)

    loop.inpainting_loss = loss  # this worker process ends with the test
    train(cfg, progress=False)


def test_a_stop_asked_of_one_rank_stops_all_at_one_step_saved_and_said(image_folder, tmp_path):
    from impaint.train import TrainingStopped

    cfg = tiny_config(image_folder, tmp_path / "ddp", steps=6)
    with pytest.raises(TrainingStopped, match="stopped at step 2 of 6: .*last.safetensors is "
                                              "saved, --resume continues the run"):
        distributed.launch(2, stop_in_step_2, cfg)
    assert read_checkpoint(tmp_path / "ddp" / "last.safetensors")[1]["step"] == 2
