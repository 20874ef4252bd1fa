"""ONNX export, and the backends that run a single-scale fill: PyTorch, onnxruntime or OpenVINO.

The exported graph is `inpaint_with_std(model, image, mask)` at scale 1, composition included:
  inputs   image (B, 3, H, W) float32 in [0, 1];  mask (B, 1, H, W) float32, 1 = known, 0 = hole
  outputs  filled (B, 3, H, W), known pixels copied bit-exactly from `image`;
           sigma (B, 3, H, W), 0 on known pixels (probabilistic models only)
B, H and W are dynamic. Like the PyTorch path, the graph decodes the missing pixels only
(NonZero, Gather, ScatterND): at the bench's masks (half missing) that was 1.1x the
every-pixel graph in onnxruntime and 1.2x in OpenVINO (docs/speed.md).

`onnx` and `onnxruntime` are optional (`pip install 'impaint[onnx]'`), and so is OpenVINO
(`'impaint[openvino]'`): `load_backend("auto")` picks PyTorch on CPUs with native bf16, else
OpenVINO where it is installed (`resolve_backend` says why).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import logging
import threading
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..model import Decoder, ModelConfig, compose, pixel_centres
from ..model.checkpoint import written_atomically
from ..precision import bf16_is_fast
from .options import BACKENDS
from .pipeline import model_single

# Bump when the exported graph changes: cached exports are then rebuilt (3: the encoder
# upsamples by its stride, aligned on odd sides; 4: traced contiguous, see export_onnx).
GRAPH_VERSION = 4
# Above this many pixels a call runs without onnxruntime's memory arena: 1024^2 peaked at
# 1.5 GB without it and 3.6 GB with it; at 32 px the arena is worth ~30 % (docs/speed.md).
LARGE_PIXELS = 512 * 512


class BackendError(ValueError):
    """A backend that cannot run here (its runtime missing, a model it cannot export)."""


class InferenceError(BackendError, RuntimeError):
    """A backend that failed on one input (its runtime's error, an output of another shape):
    a folder run goes on to the next image, as past PyTorch's RuntimeErrors."""


class InpaintGraph(nn.Module):
    """What the exported graph computes: (image, mask) -> filled[, sigma]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, mask: torch.Tensor):
        z = self.model.encode(image, mask)  # (B, C_z, H, W)
        if type(self.model.decoder) is not Decoder:  # convolutional decoders need the grid
            mean, sigma = self.model.split(self.model.decode_grid(z))  # (B, 3, H, W) each
            filled = compose(image, mask, mean.clamp(0, 1))
            if sigma is None:
                return filled
            return filled, torch.where(mask.bool().expand_as(sigma), torch.zeros_like(sigma),
                                       sigma)
        return self.holes_only(image, mask, z)

    def holes_only(self, image: torch.Tensor, mask: torch.Tensor, z: torch.Tensor):
        """`model.decode_holes` in export-friendly form: pixels are rows of (B·H·W, C), the
        holes' rows are gathered, decoded, and written over the image's (known rows kept)."""
        model, (b, c_z, h, w) = self.model, z.shape
        holes = (mask.reshape(-1) == 0).nonzero().squeeze(1)  # (N,) row-major (b, y, x)
        feats = z.permute(0, 2, 3, 1).reshape(-1, c_z).index_select(0, holes)  # (N, C_z)
        if model.decoder.use_coords:  # each image's grid repeated: (B·H·W, 2), then gathered
            # (not `holes % (H·W)`: the exporter cannot take a remainder by a dynamic size)
            xy = pixel_centres(h, w, z.device).reshape(1, h * w, 2).expand(b, h * w, 2)
            feats = torch.cat([xy.reshape(-1, 2).index_select(0, holes), feats], dim=-1)
        mean, sigma = model.split(model.decoder(feats))  # (N, C) each

        def scatter(base, rows):  # base (B, C, H, W); rows (N, C) written at the holes
            c = base.shape[1]
            flat = base.permute(0, 2, 3, 1).reshape(-1, c).index_put((holes,), rows)
            return flat.reshape(b, h, w, c).permute(0, 3, 1, 2)
        filled = scatter(image, mean.clamp(0, 1))
        return filled if sigma is None else (filled, scatter(torch.zeros_like(image), sigma))


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter narrates each step on stdout, warns about axis names, and logs that
    torchvision (which impaint does not use) is missing: none of it is for our users."""
    log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


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
    # A copy in the contiguous layout: traced channels-last (as load_model returns it, for
    # speed), the graph declared shapes that hold on even sides only, and onnxruntime
    # failed on other sizes ("Shape mismatch attempting to re-use buffer") for a latent model.
    model = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    graph = InpaintGraph(model.eval()).eval()
    batch, height, width = (torch.export.Dim(n, min=2) for n in ("batch", "height", "width"))
    dims = {0: batch, 2: height, 3: width}
    example = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    outputs = ["filled", "sigma"] if model.cfg.probabilistic else ["filled"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_exporter():
        program = torch.onnx.export(graph, example, dynamo=True, input_names=["image", "mask"],
                                    output_names=outputs, verbose=False,
                                    dynamic_shapes={"image": dims, "mask": dims})
    program.model.metadata_props.update({
        "impaint_graph_version": str(GRAPH_VERSION),
        "impaint_model_config": json.dumps(model.cfg.to_dict()),
        "mask_convention": "1 = known, 0 = hole"})
    with written_atomically(path) as tmp:  # this writer's own: see write_safetensors
        program.save(tmp, external_data=False)
    return path


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
        prune_cache(path.parent)
    return path


CACHE_KEEP = 8  # exported graphs kept (1.8 MB each): a retrained checkpoint makes a new one


def prune_cache(folder: Path) -> None:
    """Delete all but the CACHE_KEEP newest graphs of the cache (an old one is exported
    again, in a second or two, if it is asked for)."""
    graphs = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in graphs[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


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
    autocast where `pipeline.bf16_is_fast` (2.4x fp32 here, within 0.01 dB)."""

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
