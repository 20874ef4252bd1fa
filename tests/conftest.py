"""Fixtures every test folder shares; the helpers they build on are in helpers.py."""

import os
import subprocess
import sys

import pytest
import torch

from impaint.model import ImplicitInpainter, save_checkpoint
from tests.helpers import TINY, make_images


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory, onnx_cache):
    # Tests never read or write the user's decoded-image cache.
    monkeypatch.setenv("IMPAINT_CACHE", str(tmp_path_factory.mktemp("cache")))
    # --quiet and --fp32 set these for the process: restored after each test, not leaked on.
    monkeypatch.setenv("IMPAINT_QUIET", "0")
    monkeypatch.setenv("IMPAINT_FP32", "0")
    # ONNX exports are keyed by the checkpoint's bytes, so tests can share them (and the tiny
    # checkpoint, seeded below, is the same in every test): one export, not one a test.
    monkeypatch.setattr("impaint.inference.onnx_export.onnx_cache_dir", lambda: onnx_cache)
    torch.manual_seed(0)


@pytest.fixture
def image_folder(tmp_path):
    make_images(tmp_path / "imgs", 24)
    return tmp_path / "imgs"


@pytest.fixture
def celeba_tree(tmp_path):
    """A tiny CelebA tree in the official layout: ids 1-30 train, 31-40 valid, 41-45 test;
    some listed files are absent (as in the shared subset)."""
    root = tmp_path / "celeba"
    images = root / "img_align_celeba"
    make_images(images, 45, size=(218, 178), start=1)
    lines = []
    for i in range(1, 46):
        name = f"{i:06d}.jpg"
        split = 0 if i <= 30 else 1 if i <= 40 else 2
        lines.append(f"{name} {split}")
    for j in range(46, 50):  # listed, not present
        lines.append(f"{j:06d}.jpg 0")
    (images / "000044.jpg").unlink()
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny_checkpoint(tmp_path):
    return save_tiny_checkpoint(tmp_path / "tiny.safetensors")


def save_tiny_checkpoint(path):
    """An untrained TINY model at `path`, as a 32-px checkpoint."""
    save_checkpoint(path, ImplicitInpainter(TINY), {"model_config": TINY.to_dict(),
                                                    "image_size": 32, "step": 0})
    return path


@pytest.fixture(scope="session")
def int8_graph(tmp_path_factory):
    """An int8 OpenVINO graph of a TINY model, written by `impaint export --int8` in its own
    process. The suite quantizes and runs int8 graphs only in child processes: running one
    in the pytest process made a later test (the one that kills a training subprocess) die of
    SIGSEGV, with no Python traceback; the cause is not found (docs/speed.md).
    -> (graph path, its checkpoint, the CLI's output)."""
    pytest.importorskip("openvino", reason="OpenVINO is not installed (the [int8] extra)")
    pytest.importorskip("nncf", reason="NNCF is not installed (the [int8] extra)")
    root = tmp_path_factory.mktemp("int8")
    ckpt = save_tiny_checkpoint(root / "tiny.safetensors")
    make_images(root / "cal", 60, size=(32, 32))
    done = subprocess.run([sys.executable, "-m", "impaint", "export", "--int8", "--calibration",
                           str(root / "cal"), "--checkpoint", str(ckpt), "-o",
                           str(root / "g" / "m.xml")], capture_output=True, text=True,
                          env={**os.environ, "IMPAINT_CACHE": str(root / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "g" / "m.xml", ckpt, done.stdout

