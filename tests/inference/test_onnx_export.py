import json

import pytest
import torch

from tests.helpers import TINY, pair
from impaint.model import load_model
from impaint.model import ImplicitInpainter, inpaint_with_std
from impaint.inference.onnx_backend import OnnxInpainter, OpenVinoInpainter
from impaint.inference.onnx_export import BackendError, cached_export, export_onnx

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the [onnx] extra)")

# (batch, height, width); the last one > LARGE_PIXELS
SIZES = [(1, 32, 32), (3, 37, 53), (1, 640, 480)]


def _runner(runtime, path):
    if runtime == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is not installed (the [openvino] extra)")
        return OpenVinoInpainter(path, bf16=False)  # fp32: comparable with PyTorch fp32
    return OnnxInpainter(path)


def _model(which, tmp_path):
    """The shipped model, a tiny one as built, or a stochastic-latent one as load_model gives
    it (channels-last: traced so, its graph once failed in onnxruntime off a 4-px grid)."""
    if which == "shipped":
        return load_model()
    if which == "tiny":
        return ImplicitInpainter(TINY).eval()
    from impaint.model import save_checkpoint
    from tests.helpers import STOCHASTIC, stochastic_model

    save_checkpoint(tmp_path / "latent.safetensors", stochastic_model(),
                    {"model_config": STOCHASTIC.to_dict(), "image_size": 32})
    return load_model(tmp_path / "latent.safetensors")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("which", ["shipped", "tiny", "latent"])
def test_export_matches_pytorch(tmp_path, which, runtime):
    """One graph, every size: the hole within 1e-4 of PyTorch fp32, known pixels exact."""
    model = _model(which, tmp_path)
    run = _runner(runtime, export_onnx(model, tmp_path / "m.onnx"))
    assert run.probabilistic == bool(model.cfg.probabilistic)
    for b, h, w in SIZES:
        image, mask = pair(b, h, w)
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


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_no_hole_and_all_holes(tiny_checkpoint, runtime):
    """The hole-only decode at its edges: nothing to decode, and every pixel."""
    run = _runner(runtime, cached_export(tiny_checkpoint))
    model = load_model(tiny_checkpoint)
    image = pair(2, 32, 32)[0]
    out, _ = run(image, torch.ones(2, 1, 32, 32))
    assert torch.equal(out, image)
    out, _ = run(image, torch.zeros(2, 1, 32, 32))
    ref, _ = inpaint_with_std(model, image, torch.zeros(2, 1, 32, 32))
    assert (out - ref).abs().max() <= 1e-4

def test_export_takes_what_load_model_takes(tiny_checkpoint, tmp_path):
    import onnx

    graph = onnx.load(export_onnx(tiny_checkpoint, tmp_path / "t.onnx"))  # a shipped name too
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["impaint_model_config"]) == json.loads(json.dumps(TINY.to_dict()))


def test_cached_export_is_reused(tiny_checkpoint, tmp_path):
    first = cached_export(tiny_checkpoint, tmp_path / "cache")
    stamp = first.stat().st_mtime_ns
    assert cached_export(tiny_checkpoint, tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == stamp  # not exported again
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary left


def test_the_cache_keeps_the_newest_graphs(tiny_checkpoint, tmp_path, monkeypatch):
    import os

    from impaint.inference import onnx_export

    monkeypatch.setattr(onnx_export, "CACHE_KEEP", 2)
    cache = tmp_path / "cache"
    cache.mkdir()
    # graphs of earlier checkpoints (or graph versions), written in 2001: old1 the newest
    # of them, so that neither the names' order nor the files' creation order is the answer
    for name, seconds in [("old0", 1_000_000_100), ("old1", 1_000_000_300),
                          ("old2", 1_000_000_200)]:
        (cache / f"{name}-0000.onnx").write_bytes(b"stale")
        os.utime(cache / f"{name}-0000.onnx", ns=(seconds * 10**9, seconds * 10**9))
    fresh = cached_export(tiny_checkpoint, cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted(["old1-0000.onnx", fresh.name])

def test_fourier_models_are_refused_in_one_line(tmp_path):
    from dataclasses import replace

    with pytest.raises(BackendError, match="Fourier blocks"):
        export_onnx(ImplicitInpainter(replace(TINY, fourier=True)), tmp_path / "f.onnx")
    assert not list(tmp_path.iterdir())
