import pytest
import torch

from tests.helpers import TINY, pair
from impaint.model import load_model
from impaint.model import ImplicitInpainter
from impaint.precision import native_bf16
from impaint.inference.onnx_backend import (BackendError, OnnxInpainter, OpenVinoInpainter,
                                           TorchInpainter, load_backend, resolve_backend)
from impaint.inference.onnx_export import cached_export, export_onnx

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the [onnx] extra)")


def test_openvino_in_bf16_keeps_known_pixels_and_stays_close(tiny_checkpoint, monkeypatch):
    pytest.importorskip("openvino")
    path = cached_export(tiny_checkpoint)
    image, mask = pair(2, 40, 24)
    fp32, _ = OpenVinoInpainter(path, bf16=False)(image, mask)
    out, _ = OpenVinoInpainter(path, bf16=True)(image, mask)
    known = mask.bool().expand_as(image)
    assert torch.equal(out[known], image[known])
    gap = (out - fp32)[~known].abs().max()
    assert gap <= 0.05  # bf16 rounding, not another model
    # OpenVINO honours the bf16 hint only on CPUs with bf16 units; elsewhere it runs fp32.
    assert (gap > 0) == native_bf16("cpu")
    monkeypatch.setenv("IMPAINT_FP32", "1")  # --fp32 reaches OpenVINO too
    assert OpenVinoInpainter(path).bf16 is False


def test_openvino_serves_several_threads(tiny_checkpoint):
    """`impaint serve` calls one backend from its worker threads: one request per thread."""
    pytest.importorskip("openvino")
    from concurrent.futures import ThreadPoolExecutor

    run = OpenVinoInpainter(cached_export(tiny_checkpoint), bf16=False)
    pairs = [pair(1, 32 + 8 * i, 32, seed=i) for i in range(6)]
    alone = [run(*p)[0] for p in pairs]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda p: run(*p)[0], pairs))
    assert all(torch.equal(a, b) for a, b in zip(alone, together))



def test_backends_agree(tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("IMPAINT_FP32", "1")  # the graph is fp32; torch's bf16 default is not
    image, mask = pair(2, 32, 32)
    torch_out, _ = load_backend("torch", tiny_checkpoint)(image, mask)
    onnx_out, _ = load_backend("onnxruntime", tiny_checkpoint)(image, mask)
    assert (torch_out - onnx_out).abs().max() <= 1e-4


def test_the_torch_backend_runs_a_model_already_loaded_not_a_copy():
    """`serve` holds the model (for ×2, ×4 and samples) and the x1 fill: one copy in memory;
    a pair's coarse model too."""
    from impaint.model import load_model

    pair = load_model("faces")
    fill = load_backend("torch", "faces", pair)
    assert fill.model is pair and fill.coarse.model is pair.coarse


def test_auto_is_torch_with_native_bf16_else_openvino(monkeypatch, tiny_checkpoint):
    pytest.importorskip("openvino")
    # a context of its own: monkeypatch.undo() would also undo conftest's isolation (the
    # test's caches, IMPAINT_FP32) for the rest of the test
    with monkeypatch.context() as m:
        m.setattr("impaint.inference.onnx_backend.bf16_is_fast", lambda *a: True)
        assert isinstance(load_backend("auto", tiny_checkpoint), TorchInpainter)
        m.setattr("impaint.inference.onnx_backend.bf16_is_fast", lambda *a: False)
        assert isinstance(load_backend("auto", tiny_checkpoint), OpenVinoInpainter)
        m.setattr("impaint.inference.onnx_backend.openvino_available", lambda: False)
        assert resolve_backend("auto") == "torch"  # never onnxruntime: slower on large photos
        with pytest.raises(BackendError, match="pip install 'impaint\\[openvino\\]'"):
            load_backend("openvino", tiny_checkpoint)
        m.setattr("impaint.inference.onnx_backend.onnxruntime_available", lambda: False)
        with pytest.raises(BackendError, match="pip install 'impaint\\[onnx\\]'"):
            load_backend("onnxruntime", tiny_checkpoint)
    monkeypatch.setenv("IMPAINT_FP32", "1")  # --fp32: PyTorch would run fp32, so OpenVINO
    assert resolve_backend("auto") == "openvino"



def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'tensorrt'"):
        resolve_backend("tensorrt")


def test_an_exported_graph_runs_as_the_checkpoint_it_came_from(tiny_checkpoint, tmp_path,
                                                               monkeypatch):
    monkeypatch.setenv("IMPAINT_FP32", "1")
    graph = export_onnx(load_model(tiny_checkpoint), tmp_path / "tiny.onnx")
    image, mask = pair(2, 24, 40)
    from_checkpoint, _ = load_backend("onnxruntime", tiny_checkpoint)(image, mask)
    from_graph = load_backend("onnxruntime", graph)
    assert isinstance(from_graph, OnnxInpainter)
    assert torch.equal(from_graph(image, mask)[0], from_checkpoint)
    with pytest.raises(BackendError, match="tiny.onnx is an exported graph: run it with "
                                           "--backend onnxruntime or openvino"):
        load_backend("torch", graph)


@pytest.mark.parametrize("name", ["bad.onnx", "bad.xml"])
def test_a_graph_no_runtime_can_read_is_one_line(tmp_path, name):
    runtime = "openvino" if name.endswith(".xml") else "onnxruntime"
    if runtime == "openvino":
        pytest.importorskip("openvino", reason="OpenVINO is not installed")
    (tmp_path / name).write_text("<net>not a graph</net>")
    (tmp_path / "bad.bin").write_bytes(b"")
    with pytest.raises(BackendError, match=f"cannot load .*{name} in {runtime}: ") as error:
        load_backend(runtime, tmp_path / name)
    assert "\n" not in str(error.value)
    (tmp_path / "bad.bin").unlink()
    if runtime == "openvino":  # an IR graph without its weights: said before OpenVINO tries
        with pytest.raises(BackendError, match="needs its weights beside it: bad.bin"):
            load_backend(runtime, tmp_path / name)


@pytest.mark.parametrize("which", ["tiny", "latent"])
def test_openvino_fills_a_side_under_the_models_grid(tmp_path, which):
    """OpenVINO cannot pool a 1-px side (or a latent model's 3-px one): it failed, or with one
    thread handed back the previous call's output. Such sides are padded and cropped back."""
    pytest.importorskip("openvino")
    from tests.helpers import stochastic_model

    model = stochastic_model().eval() if which == "latent" else ImplicitInpainter(TINY).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    run = OpenVinoInpainter(path, threads=1, bf16=False)
    assert run.grid == model.cfg.grid == (4 if which == "latent" else 2)
    run(*pair(1, 37, 53))  # a previous output the request could hand back
    for b, h, w in [(1, 1, 40), (2, 40, 1), (1, 1, 1), (1, 3, 9)]:
        image, mask = pair(b, h, w, seed=h + w)
        mask[0, 0, 0, 0] = 0  # a hole in each
        out, _ = run(image, mask)
        ref, _ = OnnxInpainter(path)(image, mask)  # onnxruntime pools a short side
        known = mask.bool().expand_as(image)
        assert out.shape == image.shape and torch.equal(out[known], image[known])
        assert (out - ref).abs().max() < 0.2  # the same model, next to a repeated edge


@pytest.mark.parametrize("threads", [1, 2])
def test_openvino_failures_and_wrong_shapes_are_one_line(tiny_checkpoint, threads):
    """Unpadded, a 1-px side fails in OpenVINO: with one thread silently (an empty output, or
    the last call's), with more in a C++ exception of many lines; either is one line here."""
    pytest.importorskip("openvino")
    run = OpenVinoInpainter(cached_export(tiny_checkpoint), threads=threads, bf16=False)
    run(*pair(1, 5, 7))
    run.grid = 1  # as if the model needed no padding
    with pytest.raises(BackendError, match=r"openvino (failed on|returned \(.*\) for) a "
                                           r"\(1, 3, 1, 40\) image") as error:
        run(*pair(1, 1, 40))
    assert "\n" not in str(error.value)


def test_an_onnxruntime_failure_is_one_line(tiny_checkpoint):
    run = OnnxInpainter(cached_export(tiny_checkpoint))
    with pytest.raises(BackendError, match=r"onnxruntime failed on a \(1, 4, 8, 8\) image: "
                                           r".*Got: 4 Expected: 3") as error:
        run(torch.rand(1, 4, 8, 8), torch.ones(1, 1, 8, 8))
    assert "\n" not in str(error.value)
