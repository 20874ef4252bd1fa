import pytest
import torch

from tests.helpers import TINY
from impaint.model import load_model
from impaint.model import ImplicitInpainter, inpaint_with_std
from impaint.inference.onnx_backend import (BackendError, OnnxInpainter, TorchInpainter, cached_export,
                                  export_onnx, load_backend, resolve_backend)

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the [onnx] extra)")

SIZES = [(1, 32, 32), (3, 37, 53), (1, 640, 480)]  # the last one > LARGE_PIXELS  # batch, height, width


def _pair(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), (torch.rand(b, 1, h, w, generator=g) > 0.5).float()


@pytest.mark.parametrize("which", ["shipped", "tiny"])
def test_export_matches_pytorch(tmp_path, which):
    """One graph, every size: the hole within 1e-4 of PyTorch fp32, known pixels exact."""
    model = load_model() if which == "shipped" else ImplicitInpainter(TINY).eval()
    run = OnnxInpainter(export_onnx(model, tmp_path / "m.onnx"))
    assert run.probabilistic == bool(model.cfg.probabilistic)
    for b, h, w in SIZES:
        image, mask = _pair(b, h, w)
        ref, ref_sigma = inpaint_with_std(model, image, mask)
        out, sigma = run(image, mask)
        assert out.shape == ref.shape == (b, 3, h, w)
        known = mask.bool().expand_as(image)
        assert torch.equal(out[known], image[known])
        assert (out - ref)[~known].abs().max() <= 1e-4
        if ref_sigma is None:
            assert sigma is None
        else:
            assert (sigma - ref_sigma).abs().max() <= 1e-4
            assert torch.all(sigma[known] == 0) and torch.all(sigma[~known] > 0)


def test_cached_export_is_reused(tiny_checkpoint, tmp_path):
    first = cached_export(tiny_checkpoint, tmp_path / "cache")
    stamp = first.stat().st_mtime_ns
    assert cached_export(tiny_checkpoint, tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == stamp  # not exported again
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary left


def test_backends_agree(tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("IMPAINT_FP32", "1")  # the graph is fp32; torch's bf16 default is not
    image, mask = _pair(2, 32, 32)
    torch_out, _ = load_backend("torch", tiny_checkpoint)(image, mask)
    onnx_out, _ = load_backend("onnxruntime", tiny_checkpoint)(image, mask)
    assert (torch_out - onnx_out).abs().max() <= 1e-4


def test_auto_is_torch_with_native_bf16_else_onnxruntime(monkeypatch, tiny_checkpoint):
    monkeypatch.setattr("impaint.inference.onnx_backend.bf16_is_fast", lambda *a: True)
    assert isinstance(load_backend("auto", tiny_checkpoint), TorchInpainter)
    monkeypatch.setattr("impaint.inference.onnx_backend.bf16_is_fast", lambda *a: False)
    assert resolve_backend("auto") == "onnxruntime"
    assert isinstance(load_backend("auto", tiny_checkpoint), OnnxInpainter)
    monkeypatch.undo()
    monkeypatch.setenv("IMPAINT_FP32", "1")  # --fp32: PyTorch would run fp32, so the graph
    assert resolve_backend("auto") == "onnxruntime"


def test_auto_falls_back_to_torch_without_onnxruntime(monkeypatch, tiny_checkpoint):
    monkeypatch.setattr("impaint.inference.onnx_backend.onnxruntime_available", lambda: False)
    assert resolve_backend("auto") == "torch"
    assert isinstance(load_backend("auto", tiny_checkpoint), TorchInpainter)
    with pytest.raises(BackendError, match="pip install 'impaint\\[onnx\\]'"):
        load_backend("onnxruntime", tiny_checkpoint)


def test_fourier_models_are_refused_in_one_line(tmp_path):
    from dataclasses import replace

    with pytest.raises(BackendError, match="Fourier blocks"):
        export_onnx(ImplicitInpainter(replace(TINY, fourier=True)), tmp_path / "f.onnx")
    assert not list(tmp_path.iterdir())


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'"):
        resolve_backend("tensorrt")
