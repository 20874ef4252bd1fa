"""Checkpoints: one safetensors file holding tensors, with the JSON state in its metadata.

Nothing is unpickled on load: tensors come from safetensors, everything else (configs, step,
optimizer hyper-parameters) is JSON. Writes go to a temporary file that is renamed into
place, so an interrupted save never destroys the previous checkpoint.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..outputs import temporary_name, written_atomically  # noqa: F401  (the old path too)
from ..precision import pick_device
from .config import ModelConfig
from .network import ImplicitInpainter, build_model

FORMAT_VERSION = 1
SHIPPED_WEIGHTS = "celeba32.safetensors"  # inside the package's weights/ folder
# The models that ship in weights/, by the name `--checkpoint NAME` and `load_model(NAME)`
# take: celeba32 for aligned 32-px faces (the seed's task), general for photos of any size.
SHIPPED = {"celeba32": SHIPPED_WEIGHTS, "general": "general.safetensors"}
# A pairing, not a file: `general` everywhere but at a pyramid's coarsest level, where
# `celeba32`, which knows whole 32-px faces, fills it (the multi-scale pipeline's `coarse`).
PAIRS = {"faces": ("general", "celeba32")}


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, truncated or of another kind."""


def save_checkpoint(path: str | Path, model: torch.nn.Module, state: dict,
                    optimizer: torch.optim.Optimizer | None = None,
                    extra: dict[str, torch.Tensor] | None = None) -> None:
    """Write model weights (+ optimizer moments, + `extra` tensors such as a discriminator's)
    and a JSON-able `state` dict atomically. The model's own config is the `model_config`
    unless `state` gives one: without it `load_model` cannot rebuild the model."""
    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({k: v.contiguous() for k, v in (extra or {}).items()})
    meta = {"format": FORMAT_VERSION, **state}
    if "model_config" not in meta and hasattr(getattr(model, "cfg", None), "to_dict"):
        meta["model_config"] = model.cfg.to_dict()
    if optimizer is not None:
        tensors.update(optimizer_tensors(optimizer))
        meta["optimizer_param_groups"] = optimizer.state_dict()["param_groups"]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(path, tensors, {"impaint": json.dumps(meta)})


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically: to a temporary file, then renamed into place.

    Written with `open`, so the file gets the usual permissions (the umask's): safetensors'
    own `save_file` makes files only their owner can read, and shared checkpoints failed.
    Each writer has its own temporary file (`temporary_name`): two processes filling the same
    decode cache at once each rename their own file, and the last wins."""
    with written_atomically(path) as tmp, open(tmp, "xb") as f:
        f.write(save(tensors, metadata))


def _is_safetensors(head: bytes, size: int) -> bool:
    """Whether a file opens as safetensors does: the JSON header's length (8 bytes, little
    endian; it may begin with any byte, b"PK" or a pickle's b"\\x80" too), then its "{"."""
    return len(head) == 9 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (tensors, state). Raises CheckpointError with a one-line reason."""
    path = Path(path)
    if path.is_dir():
        hint = " (a run folder: its last.safetensors or best.safetensors)" if any(
            (path / f).is_file() for f in ("last.safetensors", "best.safetensors")) else ""
        raise CheckpointError(f"{path} is a folder, not a checkpoint file{hint}")
    if not path.is_file():
        names = ", ".join([*SHIPPED, *PAIRS])
        raise CheckpointError(f"checkpoint not found: {path}" + (
            "" if path.suffix else f" (a file, or a shipped model: {names})"))
    if path.suffix.lower() in (".onnx", ".xml"):
        raise CheckpointError(f"{path.name} is an exported graph, not a checkpoint: run it "
                              "with --backend onnxruntime or openvino (README, Export and "
                              "deployment), or pass the .safetensors it was exported from")
    with open(path, "rb") as f:
        head = f.read(9)
    pickled = head[:2] == b"PK" or head[:1] == b"\x80"  # a zip archive or a pickle: torch.save's
    if pickled and not _is_safetensors(head, path.stat().st_size):
        raise CheckpointError(f"{path} is a PyTorch pickle (torch.save), not a checkpoint: "
                              "impaint reads only .safetensors files, which load without "
                              "unpickling")
    try:
        tensors = load_file(path)
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
        state = json.loads(meta["impaint"]) if "impaint" in meta else None
    except (SafetensorError, OSError, json.JSONDecodeError, ValueError) as e:
        raise CheckpointError(f"corrupt or unreadable checkpoint {path}: "
                              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if state is None:
        raise CheckpointError(f"{path} is a safetensors file but not an impaint checkpoint (no "
                              "impaint metadata: impaint.save_checkpoint writes one)")
    if not isinstance(state, dict) or "model_config" not in state:
        raise CheckpointError(f"{path} is not an impaint checkpoint (no model_config)")
    if isinstance(state.get("format"), int) and state["format"] > FORMAT_VERSION:  # newer
        raise CheckpointError(f"{path} is of checkpoint format {state['format']}, newer than "
                              f"this impaint reads ({FORMAT_VERSION}): upgrade impaint")
    return tensors, state


def shipped_weights_path(name: str = "celeba32") -> Path:
    return Path(str(resources.files("impaint") / "weights" / SHIPPED[name]))


def checkpoint_path(path: str | Path | None) -> Path:
    """None -> the default shipped model; a shipped model's name (when no file of that name
    exists here) -> its weights in the package; anything else -> that file."""
    if path is None:
        return shipped_weights_path()
    if str(path) in SHIPPED and not Path(path).exists():
        return shipped_weights_path(str(path))
    return Path(path)


def paired(path: str | Path | None) -> tuple[str, str] | None:
    """A shipped pair's (fine, coarse) model names if `path` names one (when no file of that
    name exists here), else None."""
    return PAIRS.get(str(path)) if not Path(str(path)).exists() else None


def with_coarse(model: torch.nn.Module, coarse) -> torch.nn.Module:
    """`model`, with `coarse` (a model or a single-scale backend) for the coarsest level of
    the multi-scale pipeline. Kept out of the module tree on purpose (not a submodule): the
    model's parameters, state_dict and export stay its own. σ follows `model`: a
    deterministic coarse model's hint counts as sure (σ 0), a probabilistic one's σ is
    dropped for a deterministic `model`."""
    model.__dict__["coarse"] = coarse
    return model


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu"
               ) -> ImplicitInpainter:
    """Rebuild a model from a checkpoint alone (its config is inside); None = the default
    shipped model (celeba32), "celeba32" / "general" / "faces" = a shipped one by name (the
    README's table says which suits what). It comes back in eval mode, for inference."""
    if pair := paired(path):
        fine, coarse = pair
        return with_coarse(load_model(fine, device), load_model(coarse, device))
    path = checkpoint_path(path)
    tensors, state = read_checkpoint(path)
    try:
        model = build_model(ModelConfig.from_dict(state["model_config"]))
        weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(weights)
    except (RuntimeError, ValueError, TypeError) as e:
        reason = " ".join(str(e).split())  # torch's message spans lines; its detail, too
        raise CheckpointError(f"checkpoint {path} does not match the model: "
                              f"{reason[:300]}{'...' if len(reason) > 300 else ''}")
    model.image_size = state.get("image_size")  # the training resolution, if recorded
    model.checkpoint_state = state
    # Weights channels-last (NHWC): oneDNN's convolutions then run channels-last whatever the
    # input's layout, 1.3-1.6x faster for fp32 inference on an AVX2 CPU (512 px through the
    # pipeline: 0.91-1.02 -> 0.69-0.71 s), the same fill within 6e-7.
    return model.to(pick_device(device, "device"), memory_format=torch.channels_last).eval()


def export_model(src: str | Path, dst: str | Path, **extra) -> Path:
    """Weights + configs only (no optimizer moments): what a user needs to inpaint. `src`: a
    file, or a shipped model's name."""
    src = checkpoint_path(src)
    tensors, state = read_checkpoint(src)
    keep = {k: state[k] for k in ("model_config", "train_config", "image_size", "step",
                                  "parameters", "best_valid_psnr") if k in state}
    model = load_model(src)
    save_checkpoint(dst, model, {**keep, **extra})
    return Path(dst)


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str = "optim"
                      ) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state (Adam's step and moments) as `prefix.IDX.NAME`
    tensors; its param groups (lr, betas) are JSON, kept by the caller where they change."""
    return {f"{prefix}.{idx}.{name}": torch.as_tensor(value).detach().cpu().contiguous()
            for idx, slots in optimizer.state_dict()["state"].items()
            for name, value in slots.items()}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict, state: dict | None,
                         prefix: str = "optim") -> None:
    """Restore what `optimizer_tensors` saved; the param groups from `state` (the checkpoint's
    JSON), or the optimizer's own where they never change (None)."""
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, idx, name = key.split(".", 2)
            slots.setdefault(int(idx), {})[name] = value
    groups = (optimizer.state_dict()["param_groups"] if state is None
              else state["optimizer_param_groups"])
    optimizer.load_state_dict({"state": slots, "param_groups": groups})
