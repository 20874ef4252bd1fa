"""The backends that run a single-scale fill: PyTorch, onnxruntime or OpenVINO.

onnxruntime and OpenVINO run the graph that onnx_export.py exports once per checkpoint and
caches (its inputs and outputs are in that module's docstring). `load_backend` picks a backend
and opens it; `open_graph` opens a graph `impaint export` wrote. Every name this module held
before the export moved out is still importable from it.

`onnx` and `onnxruntime` are optional (`pip install 'impaint[onnx]'`), and so is OpenVINO
(`'impaint[openvino]'`): `load_backend("auto")` picks PyTorch on CPUs with native bf16, else
OpenVINO where it is installed (`resolve_backend` says why).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..model import ModelConfig
from ..precision import bf16_is_fast
from .onnx_export import BackendError, cached_export
from .options import BACKENDS
from .pipeline import model_single
# The old path: names that lived here before the export moved out, imported from here.
from .onnx_export import (CACHE_KEEP, GRAPH_VERSION, InpaintGraph, export_onnx,  # noqa: F401
                          onnx_cache_dir, prune_cache)

# Above this many pixels a call runs without onnxruntime's memory arena: 1024^2 peaked at
# 1.5 GB without it and 3.6 GB with it; at 32 px the arena is worth ~30 % (docs/speed.md).
LARGE_PIXELS = 512 * 512


class InferenceError(BackendError, RuntimeError):
    """A backend that failed on one input (its runtime's error, an output of another shape):
    a folder run goes on to the next image, as past PyTorch's RuntimeErrors."""


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def require(name: str) -> None:
    """A one-line BackendError if backend `name`'s runtime is not installed."""
    if name == "onnxruntime" and not onnxruntime_available():
        raise BackendError("onnxruntime is not installed: pip install 'impaint[onnx]', "
                           "or use --backend torch")
    if name == "openvino" and not openvino_available():
        raise BackendError("OpenVINO is not installed: pip install 'impaint[openvino]', "
                           "or use --backend torch")


def openvino_available() -> bool:
    """OpenVINO and the exporter are installed (found, not imported: onnxscript alone takes
    half a second to import, which a CLI call that finds the graph in its cache never needs)."""
    return all(importlib.util.find_spec(name) is not None
               for name in ("openvino", "onnx", "onnxscript"))


def graph_feeds(image: torch.Tensor, mask: torch.Tensor) -> dict:
    """The graph's inputs as numpy (no copy for contiguous fp32 CPU tensors)."""
    return {"image": image.detach().float().cpu().contiguous().numpy(),
            "mask": mask.detach().float().cpu().contiguous().numpy()}


def one_line(error: Exception) -> str:
    """A runtime's exception in one line: OpenVINO's gives lines of C++ source positions, then
    the reason (its last line is kept); onnxruntime's breaks one sentence over lines (joined)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines and lines[0].startswith("Exception from "):
        return lines[-1]
    return " ".join(lines) or type(error).__name__


def graph_outputs(name: str, run, image: torch.Tensor, mask: torch.Tensor) -> list:
    """`run(feeds)`, runtime `name`'s call of the graph -> its outputs (numpy) as tensors on
    `image`'s device, each checked to be `image`'s (B, 3, H, W). A failure in the runtime, or
    an output of another shape, is a one-line InferenceError: OpenVINO's request, failing
    without a word, once handed back an empty output or the previous call's."""
    try:
        outs = run(graph_feeds(image, mask))
    except Exception as e:  # onnxruntime's errors derive from Exception alone
        raise InferenceError(f"{name} failed on a {tuple(image.shape)} image: "
                             f"{one_line(e)}") from None
    for out in outs:
        if tuple(out.shape) != tuple(image.shape):
            raise InferenceError(f"{name} returned {tuple(out.shape)} for a "
                                 f"{tuple(image.shape)} image")
    return [torch.from_numpy(out).to(image.device) for out in outs]


def graph_grid(config: str | None) -> int:
    """The pooling grid (`ModelConfig.grid`) of the model a graph was exported from, read
    from its metadata's JSON config; 2, the encoder's own, where there is none to read."""
    try:
        return ModelConfig.from_dict(json.loads(config)).grid
    except (TypeError, ValueError):  # no metadata, or a config of another version
        return 2


class OnnxInpainter:
    """An exported graph in onnxruntime, called as `inpaint_with_std(model, image, mask)`:
    (B, 3, H, W), (B, 1, H, W) -> (filled, σ or None), torch tensors on the input's device."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None):
        require(self.name)
        self.path, self.threads = str(path), threads or torch.get_num_threads()
        self.session = self._session(arena=True)
        self.large = None  # the session for large inputs, made when one comes
        self.probabilistic = len(self.session.get_outputs()) == 2
        meta = self.session.get_modelmeta().custom_metadata_map
        self.grid = graph_grid(meta.get("impaint_model_config"))

    def _session(self, arena: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3  # errors only
        options.enable_cpu_mem_arena = arena
        return ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        session = self.session
        if mask.numel() > LARGE_PIXELS:  # the arena keeps 2.4x the peak: 14 GB at 2048^2
            self.large = self.large or self._session(arena=False)
            session = self.large
        outs = graph_outputs(self.name, lambda feeds: session.run(None, feeds), image, mask)
        return outs[0], (outs[1] if self.probabilistic else None)


class OpenVinoInpainter:
    """The exported graph in OpenVINO's CPU runtime, called as `OnnxInpainter` is. OpenVINO
    runs it in bf16 on CPUs with native bf16 (as PyTorch's autocast does here, and for the
    same reason: `bf16_is_fast`), else in fp32; its fused bf16 convolutions made it the
    fastest backend on this CPU for small images and batches (docs/speed.md)."""

    name = "openvino"

    def __init__(self, path: str | Path, threads: int | None = None, bf16: bool | None = None):
        require(self.name)
        import openvino as ov

        self.bf16 = bf16_is_fast() if bf16 is None else bf16
        config = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
                  "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_PRECISION_HINT": "bf16" if self.bf16 else "f32"}
        core = ov.Core()
        graph = core.read_model(str(path))
        key = ["framework", "impaint_model_config"]  # the ONNX metadata (kept in an .xml)
        self.grid = graph_grid(graph.get_rt_info(key).astype(str)
                               if graph.has_rt_info(key) else None)
        self.compiled = core.compile_model(graph, "CPU", config)
        self.probabilistic = len(self.compiled.outputs) == 2
        self._local = threading.local()  # an infer request per thread: `serve` calls from several

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()

        def run(feeds):  # copies: the request reuses its output buffers on the next call
            result = request.infer(feeds)
            return [result[i].copy() for i in range(len(result))]
        # OpenVINO's CPU plugin cannot pool a side shorter than the kernel (onnxruntime and
        # PyTorch pool what there is): a side under the model's grid is padded by repeating
        # its last row or column, and the outputs cropped back.
        h, w = image.shape[-2:]
        grow = (0, max(0, self.grid - w), 0, max(0, self.grid - h))  # (left, right, top, bottom)
        if any(grow):
            image, mask = (F.pad(t, grow, mode="replicate") for t in (image, mask))
        outs = [o[..., :h, :w].contiguous() for o in graph_outputs(self.name, run, image, mask)]
        return outs[0], (outs[1] if self.probabilistic else None)


class TorchInpainter:
    """The same call on the PyTorch model itself (`inpaint_with_std` at scale 1), under bf16
    autocast where `precision.bf16_is_fast` (2.4x fp32 here, within 0.01 dB)."""

    name = "torch"

    def __init__(self, model: nn.Module):
        self.model = model.eval()
        self.probabilistic, self.grid = bool(model.cfg.probabilistic), model.cfg.grid

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        return model_single(self.model, bf16_is_fast(image.device))(image, mask)


def resolve_backend(name: str = "auto") -> str:
    """'auto' -> PyTorch where the CPU has native bf16, else OpenVINO where it is installed,
    else PyTorch. With bf16, OpenVINO is 1.1x PyTorch at 32 px and batch 64, 2x at batch 1 and
    1.6-2x on one 512-px pass, but through the pipeline, whose many small passes alternate
    with PyTorch's own work, it was no faster end to end and took up to 2.3x the memory. In
    fp32 it was as fast or faster everywhere (docs/speed.md). onnxruntime is never picked for
    you: it led PyTorch only in fp32 at batch 1."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if name == "auto":
        return "openvino" if not bf16_is_fast() and openvino_available() else "torch"
    return name


def open_graph(path: Path, name: str = "auto"):
    """An exported graph as a backend: an OpenVINO .xml (`impaint export --int8`) in OpenVINO,
    an .onnx in onnxruntime or OpenVINO ("auto": OpenVINO where installed). Every failure is a
    one-line BackendError: the runtimes' own exceptions span lines of C++ source positions."""
    runs = ("openvino",) if path.suffix.lower() == ".xml" else ("onnxruntime", "openvino")
    if name == "auto":
        name = "openvino" if "openvino" in runs and openvino_available() else runs[0]
    if name not in runs:
        raise BackendError(f"{path} is an exported graph: run it with --backend "
                           f"{' or '.join(runs)}, or pass the .safetensors it was exported from")
    require(name)
    if not path.is_file():
        raise BackendError(f"no such graph: {path}")
    if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").is_file():
        raise BackendError(f"{path} needs its weights beside it: {path.with_suffix('.bin').name}")
    try:
        return (OpenVinoInpainter if name == "openvino" else OnnxInpainter)(path)
    except Exception as e:  # onnxruntime's errors derive from Exception alone
        raise BackendError(f"cannot load {path} in {name}: {one_line(e)}") from None


def load_backend(name: str = "auto", checkpoint: str | Path | None = None,
                 model: nn.Module | None = None):
    """A single-scale fill for `checkpoint` (None = the shipped model): a callable
    (image, mask) -> (filled, σ or None) with the semantics of `inpaint_with_std`. `model`:
    `checkpoint`'s PyTorch model where the caller has it loaded (`serve`): the torch backend
    runs it rather than a second copy."""
    from ..model import load_model
    from ..model.checkpoint import paired

    suffix = Path(str(checkpoint)).suffix.lower()
    if suffix in (".xml", ".onnx"):  # a graph `impaint export` wrote (.xml: --int8)
        return open_graph(Path(checkpoint), name)
    name = resolve_backend(name)
    if pair := paired(checkpoint):  # e.g. "faces"
        fine, coarse = pair
        backend = load_backend(name, fine, model)
        backend.coarse = load_backend(name, coarse, getattr(model, "coarse", None))
        return backend
    if name == "torch":
        return TorchInpainter(load_model(checkpoint) if model is None else model)
    require(name)  # before exporting: that alone takes seconds
    runner = OnnxInpainter if name == "onnxruntime" else OpenVinoInpainter
    return runner(cached_export(checkpoint))
