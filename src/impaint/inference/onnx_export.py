"""ONNX export: what the exported graph computes, `export_onnx`, and the cache of exports.

The exported graph is `inpaint_with_std(model, image, mask)` at scale 1, composition included:
  inputs   image (B, 3, H, W) float32 in [0, 1];  mask (B, 1, H, W) float32, 1 = known, 0 = hole
  outputs  filled (B, 3, H, W), known pixels copied bit-exactly from `image`;
           sigma (B, 3, H, W), 0 on known pixels (probabilistic models only)
B, H and W are dynamic. Like the PyTorch path, the graph decodes the missing pixels only
(NonZero, Gather, ScatterND): at the bench's masks (half missing) that was 1.1x the
every-pixel graph in onnxruntime and 1.2x in OpenVINO (docs/speed.md).

Exporting needs `onnx` and `onnxscript` (`pip install 'impaint[onnx]'`); the backends that run
a graph, onnxruntime and OpenVINO, are in onnx_backend.py.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from ..model import Decoder, compose, load_model, pixel_centres
from ..outputs import written_atomically

# Bump when the exported graph changes: cached exports are then rebuilt (3: the encoder
# upsamples by its stride, aligned on odd sides; 4: traced contiguous, see export_onnx).
GRAPH_VERSION = 4


class BackendError(ValueError):
    """A backend that cannot run here (its runtime missing, a model it cannot export)."""


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


def export_onnx(model: nn.Module | str | Path, path: str | Path) -> Path:
    """Write `model` (a model, or what `load_model` takes: a file, a shipped name) as an ONNX
    graph (see the module docstring), atomically. The graph is one network's: a shipped pair
    (`faces`) writes its fine model (`general`) alone, without the coarse one paired with it."""
    if isinstance(model, (str, Path)):
        model = load_model(model)
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

