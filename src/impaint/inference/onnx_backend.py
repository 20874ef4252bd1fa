"""ONNX export, and the backends that run a single-scale fill: PyTorch or onnxruntime.

The exported graph is `inpaint_with_std(model, image, mask)` at scale 1, composition included:
  inputs   image (B, 3, H, W) float32 in [0, 1];  mask (B, 1, H, W) float32, 1 = known, 0 = hole
  outputs  filled (B, 3, H, W), known pixels copied bit-exactly from `image`;
           sigma (B, 3, H, W), 0 on known pixels (probabilistic models only)
B, H and W are dynamic. The graph decodes every pixel: the PyTorch path's hole-only decode
has data-dependent shapes, and onnxruntime's whole-grid decode is already the faster one.

`onnx` and `onnxruntime` are optional (`pip install 'impaint[onnx]'`): `load_backend("auto")`
picks the faster backend that is there (`resolve_backend`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from ..model import compose
from .pipeline import bf16_is_fast, model_single

GRAPH_VERSION = 1  # bump when the exported graph changes: cached exports are then rebuilt
BACKENDS = ("auto", "torch", "onnxruntime")
# Above this many pixels a call runs without onnxruntime's memory arena: 1024^2 peaked at
# 1.5 GB without it and 3.6 GB with it; at 32 px the arena is worth ~30 % (docs/speed.md).
LARGE_PIXELS = 512 * 512


class BackendError(ValueError):
    """A backend that cannot run here (onnxruntime missing, a model it cannot export)."""


class InpaintGraph(nn.Module):
    """What the exported graph computes: (image, mask) -> filled[, sigma]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, mask: torch.Tensor):
        z = self.model.encode(image, mask)  # (B, C_z, H, W)
        mean, sigma = self.model.split(self.model.decode_grid(z))  # (B, 3, H, W) each
        filled = compose(image, mask, mean.clamp(0, 1))
        if sigma is None:
            return filled
        return filled, torch.where(mask.bool().expand_as(sigma), torch.zeros_like(sigma), sigma)


def export_onnx(model: nn.Module, path: str | Path) -> Path:
    """Write `model` as an ONNX graph (see the module docstring), atomically."""
    if getattr(model, "cfg", None) is None or model.cfg.arch != "implicit":
        raise BackendError("only the implicit model (arch 'implicit') exports to ONNX")
    if model.cfg.fourier:  # the graph exports, but fails in onnxruntime:
        # its inverse DFT reuses a buffer of the wrong shape (onnxruntime 1.32)
        raise BackendError("models with Fourier blocks (model.fourier) do not export to ONNX; "
                           "use --backend torch")
    try:
        import onnx  # noqa: F401  (the exporter needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError:
        raise BackendError("exporting needs onnx and onnxscript: pip install 'impaint[onnx]'")
    path = Path(path)
    graph = InpaintGraph(model.eval()).eval()
    batch, height, width = (torch.export.Dim(n, min=2) for n in ("batch", "height", "width"))
    dims = {0: batch, 2: height, 3: width}
    example = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    outputs = ["filled", "sigma"] if model.cfg.probabilistic else ["filled"]
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # per process: see write_safetensors
    path.parent.mkdir(parents=True, exist_ok=True)
    # The exporter narrates each step on stdout and warns about axis names: keep it quiet.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(graph, example, dynamo=True, input_names=["image", "mask"],
                                    output_names=outputs, verbose=False,
                                    dynamic_shapes={"image": dims, "mask": dims})
    program.model.metadata_props.update({
        "impaint_graph_version": str(GRAPH_VERSION),
        "impaint_model_config": json.dumps(model.cfg.to_dict()),
        "mask_convention": "1 = known, 0 = hole"})
    program.save(tmp, external_data=False)
    os.replace(tmp, path)
    return path


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_cache_dir() -> Path:
    from ..data import default_cache_dir

    return default_cache_dir() / "onnx"  # IMPAINT_CACHE, default ~/.cache/impaint


def cached_export(checkpoint: str | Path | None = None, cache_dir: str | Path | None = None
                  ) -> Path:
    """The checkpoint's ONNX graph, exported once into `cache_dir` (default `onnx_cache_dir()`)
    under a hash of the checkpoint's bytes, the graph version and torch's."""
    from ..model import checkpoint_path, load_model, read_checkpoint

    src = checkpoint_path(checkpoint)
    read_checkpoint(src)  # a missing or corrupt checkpoint: its one-line CheckpointError
    key = hashlib.sha256(src.read_bytes())
    key.update(f"{GRAPH_VERSION}/{torch.__version__}".encode())
    path = Path(cache_dir or onnx_cache_dir()) / f"{src.stem}-{key.hexdigest()[:16]}.onnx"
    if not path.exists():
        export_onnx(load_model(src), path)
    return path


class OnnxInpainter:
    """An exported graph in onnxruntime, called as `inpaint_with_std(model, image, mask)`:
    (B, 3, H, W), (B, 1, H, W) -> (filled, σ or None), torch tensors on the input's device."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None):
        if not onnxruntime_available():
            raise BackendError("onnxruntime is not installed: pip install 'impaint[onnx]', "
                               "or use --backend torch")
        self.path, self.threads = str(path), threads or torch.get_num_threads()
        self.session = self._session(arena=True)
        self.large = None  # the session for large inputs, made when one comes
        self.probabilistic = len(self.session.get_outputs()) == 2

    def _session(self, arena: bool):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3  # errors only
        options.enable_cpu_mem_arena = arena
        return ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        feeds = {"image": image.detach().float().cpu().contiguous().numpy(),
                 "mask": mask.detach().float().cpu().contiguous().numpy()}
        session = self.session
        if mask.numel() > LARGE_PIXELS:  # the arena keeps 2.4x the peak: 14 GB at 2048^2
            self.large = self.large or self._session(arena=False)
            session = self.large
        outs = [torch.from_numpy(o).to(image.device) for o in session.run(None, feeds)]
        return outs[0], (outs[1] if self.probabilistic else None)


class TorchInpainter:
    """The same call on the PyTorch model itself (`inpaint_with_std` at scale 1), under bf16
    autocast where `pipeline.bf16_is_fast` (2.4x fp32 here, within 0.01 dB)."""

    name = "torch"

    def __init__(self, model: nn.Module):
        self.model = model.eval()
        self.probabilistic = bool(model.cfg.probabilistic)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor):
        return model_single(self.model, bf16_is_fast(image.device))(image, mask)


def resolve_backend(name: str = "auto") -> str:
    """'auto' -> the faster backend here: PyTorch where the CPU has native bf16 (2.3-2.5x the
    fp32 graph at 32 px and batch 64, and faster through the pipeline); elsewhere onnxruntime
    where it is installed (1.9-2.5x PyTorch fp32 at batch 1, equal at batch 64), else PyTorch.
    (The CLI's default is torch: without bf16, a 2048-px photo through the pipeline took 4.7 s
    with PyTorch fp32 and 5.8-6.2 s with onnxruntime, whose many small tile calls cost more
    than its faster 32-px calls gain; docs/speed.md.)"""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    if name == "auto":
        return "torch" if bf16_is_fast() or not onnxruntime_available() else "onnxruntime"
    return name


def load_backend(name: str = "auto", checkpoint: str | Path | None = None):
    """A single-scale fill for `checkpoint` (None = the shipped model): a callable
    (image, mask) -> (filled, σ or None) with the semantics of `inpaint_with_std`."""
    from ..model import load_model
    from ..model.checkpoint import PAIRS

    name = resolve_backend(name)
    if str(checkpoint) in PAIRS and not Path(str(checkpoint)).exists():  # e.g. "faces"
        fine, coarse = PAIRS[str(checkpoint)]
        backend = load_backend(name, fine)
        backend.coarse = load_backend(name, coarse)
        return backend
    if name == "torch":
        return TorchInpainter(load_model(checkpoint))
    if not onnxruntime_available():  # before exporting: that alone takes seconds
        raise BackendError("onnxruntime is not installed: pip install 'impaint[onnx]', "
                           "or use --backend torch")
    return OnnxInpainter(cached_export(checkpoint))
