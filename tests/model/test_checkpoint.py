import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from impaint.model import (CheckpointError, ImplicitInpainter, load_model, read_checkpoint,
                          save_checkpoint)
from impaint.model.checkpoint import write_safetensors
from tests.helpers import TINY


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = ImplicitInpainter(TINY)
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, {"model_config": TINY.to_dict(), "step": 7})
    bare = tmp_path / "bare.safetensors"  # no state: the model's own config goes in
    save_checkpoint(bare, model, {})
    assert load_model(bare).cfg == TINY
    loaded = load_model(path)
    saved, back = model.state_dict(), loaded.state_dict()
    assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
    # Loaded for inference: convolution weights channels-last (oneDNN's faster layout).
    assert loaded.encoder.stem.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.encoder.stem.weight.is_contiguous(memory_format=torch.channels_last)
    img, mask = torch.rand(1, 3, 8, 8), (torch.rand(1, 1, 8, 8) > 0.5).float()
    same_layout = model.to(memory_format=torch.channels_last).eval()
    assert torch.equal(loaded(img, mask), same_layout(img, mask))
    assert read_checkpoint(path)[1]["step"] == 7
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed away


def test_optimizer_state_round_trips(tmp_path):
    from impaint.model import load_optimizer_state
    model = ImplicitInpainter(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.safetensors", model, {"model_config": TINY.to_dict()}, opt)
    tensors, state = read_checkpoint(tmp_path / "c.safetensors")
    fresh = torch.optim.AdamW(ImplicitInpainter(TINY).parameters(), lr=1e-3)
    load_optimizer_state(fresh, tensors, state)
    a, b = opt.state_dict()["state"], fresh.state_dict()["state"]
    assert torch.equal(a[0]["exp_avg"], b[0]["exp_avg"])
    # export_model: the weights alone, what a user needs to inpaint (a shipped name works too)
    from impaint.model import export_model
    slim, _ = read_checkpoint(export_model(tmp_path / "c.safetensors", tmp_path / "w.safetensors"))
    assert slim.keys() == {k for k in tensors if k.startswith("model.")}
    assert read_checkpoint(export_model("general", tmp_path / "g.safetensors"))[1]["step"]


def test_missing_corrupt_truncated_and_foreign_checkpoints(tmp_path, tiny_checkpoint):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "none.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(garbage)
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="a safetensors file but not an impaint checkpoint"):
        load_model(foreign)
    pickled = tmp_path / "model.pt"  # what torch.save writes: never unpickled, named as such
    torch.save(ImplicitInpainter(TINY).state_dict(), pickled)
    with pytest.raises(CheckpointError, match=r"model.pt is a PyTorch pickle \(torch.save\)"):
        load_model(pickled)
    # impaint metadata that is not a dict (once a TypeError), and a format from the future
    import json
    from impaint.model.checkpoint import read_checkpoint
    tensors, state = read_checkpoint(tiny_checkpoint)
    for meta, message in [("5", "not an impaint checkpoint"),
                          (json.dumps({**state, "format": 99}), "of checkpoint format 99, "
                                                                "newer than this impaint")]:
        save_file(tensors, foreign, metadata={"impaint": meta})
        with pytest.raises(CheckpointError, match=message):
            load_model(foreign)


def test_a_mistyped_model_name_is_told_the_shipped_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="checkpoint not found: face [(]a file, or a "
                                              "shipped model: celeba32, general, faces[)]$"):
        load_model("face")
    with pytest.raises(CheckpointError, match="not found: x.safetensors$"):  # a file name: no hint
        load_model("x.safetensors")


def test_weights_that_do_not_match_the_config(tmp_path):
    model = ImplicitInpainter(TINY)
    cfg = dict(TINY.to_dict(), width=12)
    save_checkpoint(tmp_path / "bad.safetensors", model, {"model_config": cfg})
    with pytest.raises(CheckpointError, match="does not match") as error:
        load_model(tmp_path / "bad.safetensors")
    # torch's reason is on its second line: kept, on the one line
    assert "size mismatch for" in str(error.value) and "\n" not in str(error.value)


def test_checkpoints_get_the_umask_permissions_so_others_can_read_them(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "c.safetensors", ImplicitInpainter(TINY), {"step": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "c.safetensors").stat().st_mode & 0o777 == 0o644
    assert not (tmp_path / "c.safetensors.tmp").exists()


def test_shipped_models_load_by_name_and_a_file_of_that_name_wins(tmp_path, monkeypatch):
    from impaint.model import checkpoint_path, load_model, shipped_weights_path

    assert checkpoint_path("celeba32") == checkpoint_path(None) == shipped_weights_path()
    by_name, default = load_model("celeba32"), load_model()
    assert all(torch.equal(a, b) for a, b in zip(by_name.parameters(), default.parameters()))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "celeba32").write_text("not a checkpoint")  # a user's own file of that name
    assert checkpoint_path("celeba32") == Path("celeba32")


def _write_many(path: str, n: int) -> None:
    for i in range(n):
        write_safetensors(Path(path), {"x": torch.full((64, 64), float(i))})


def test_processes_writing_one_file_at_once_all_succeed(tmp_path):
    # Two evaluations started together fill the same decode cache: each writer must rename its
    # own temporary file (one shared name failed with "No such file" in the slower process).
    import multiprocessing

    path = tmp_path / "cache.safetensors"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(str(path), 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert load_file(path)["x"].shape == (64, 64)
    assert not list(tmp_path.glob("*.tmp"))


def test_an_interrupted_write_leaves_no_half_file(tmp_path, monkeypatch):
    import impaint.model.checkpoint as checkpoint

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_safetensors(tmp_path / "last.safetensors", {"x": torch.zeros(2)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("first_bytes", [b"\x80", b"PK"])
def test_a_checkpoint_whose_header_length_looks_like_a_pickle_loads(tmp_path, first_bytes):
    """A safetensors file opens with its header's length, little endian: 0x..80 bytes begins
    with a pickle's b"\\x80", 0x4b50 with a zip's b"PK" (1 run folder in 5 or so wrote one)."""
    from impaint.model import save_checkpoint

    model = ImplicitInpainter(TINY)
    path = tmp_path / "last.safetensors"
    header = lambda: int.from_bytes(path.read_bytes()[:8], "little")
    save_checkpoint(path, model, {"model_config": TINY.to_dict(), "note": ""})
    want, bits = int.from_bytes(first_bytes, "little"), 8 * len(first_bytes)
    target = header() + (want - header()) % (1 << bits)  # the next such length
    for pad in range(target - header() - 8, target - header() + 9):  # a longer note; the
        save_checkpoint(path, model, {"model_config": TINY.to_dict(), "note": "x" * pad})
        if path.read_bytes().startswith(first_bytes):  # header is padded to 8 bytes
            break
    assert path.read_bytes().startswith(first_bytes), header()
    tensors, state = read_checkpoint(path)
    assert state["note"] == "x" * pad
    loaded = load_model(path).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_writers_with_one_process_id_each_have_their_own_temporary_file(tmp_path,
                                                                         monkeypatch):
    """Two machines' processes sharing a cache folder can have one pid (containers started
    alike): here threads under a pid made equal, writing one file at once."""
    import threading

    import impaint.model.checkpoint as checkpoint
    import impaint.outputs as outputs

    monkeypatch.setattr(outputs.os, "getpid", lambda: 7)
    path = tmp_path / "cache.safetensors"
    assert checkpoint.temporary_name(path) != checkpoint.temporary_name(path)
    errors = []

    def write_many():
        try:
            _write_many(str(path), 30)
        except Exception as e:  # noqa: BLE001 (collected for the assert)
            errors.append(e)

    threads = [threading.Thread(target=write_many) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and load_file(path)["x"].shape == (64, 64)
    assert not list(tmp_path.glob("*.tmp"))
