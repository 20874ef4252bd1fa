"""Devices: which this machine has (`pick_device`), and which run bf16 natively. A leaf (it
imports no impaint module), so training, inference and the bench all ask the same question the
same way.

bf16 autocast is a speed-up only where the hardware has bf16 arithmetic: CPUs with AVX-512
BF16 or AMX (2.4–2.6x fp32 for inference at batch 64, about 2x for training, docs/speed.md),
and GPUs from Ampere on. Elsewhere PyTorch emulates it, and emulation is far slower than fp32:
on a 2-core AVX2 AMD EPYC (no AVX-512), `impaint train` ran 5.7 img/s in bf16 against 104.5
img/s in fp32. Most laptops' and many servers' CPUs are of that kind.
"""

from __future__ import annotations

import os

import torch


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether `device` computes bf16 in hardware: a CPU with AVX-512 BF16 or AMX, or a CUDA
    GPU with bf16 units (not counting emulation)."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # an older torch without the argument
            return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu, private
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def bf16_is_fast(device: torch.device | str = "cpu") -> bool:
    """Whether inference should run under bf16 autocast on `device`: CPUs with native bf16
    only (it moved no row of the 32-px table by more than 0.01 dB there); GPUs are left to
    their callers. IMPAINT_FP32=1 (`--fp32`) says no."""
    if torch.device(device).type != "cpu" or os.environ.get("IMPAINT_FP32", "") not in ("", "0"):
        return False
    return native_bf16("cpu")


def pick_device(name: str | torch.device, flag: str = "--device") -> torch.device:
    """auto (CUDA where there is one), or a device torch knows (cpu, cuda, cuda:N, mps...)
    that this machine has; otherwise a one-line ValueError naming `flag` and what there is
    (torch's own is an AssertionError or a traceback from the first tensor sent there)."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"{flag} {name} is not a device: auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    try:
        torch.empty(0, device=device)  # the one sure test: each backend fails its own way
    except Exception:  # noqa: BLE001 (AssertionError, RuntimeError, ...: all mean "not here")
        here = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())
                          if torch.cuda.is_available()]
        raise ValueError(f"{flag} {name} asked for, but this machine has none (it has: "
                         f"{', '.join(here)})") from None
    return device
