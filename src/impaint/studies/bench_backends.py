"""The bench's rows per inference backend beside PyTorch's: the exported graph (onnxruntime,
OpenVINO, an int8 graph) at 32 px and batch 1 and 64, and one large picture in one model pass
per backend and OpenCV Telea.
"""

from __future__ import annotations

import torch

from ..data.masks import make_mask
from ..evaluation.baselines import BASELINES
from ..model import inpaint_with_std
from ..precision import native_bf16
from .timing import _inputs, _timeit, default_model, inference_fn


def graph_rows(size: int, reps: int, int8: str | None = None,
               checkpoint: str | None = None) -> dict:
    """The exported graph (holes decoded only, as PyTorch does) on the same inputs as the
    PyTorch rows: onnxruntime (fp32) with its ratio to PyTorch fp32 measured just before it,
    OpenVINO (bf16 where the CPU has it, as PyTorch's default) with its ratio to PyTorch bf16,
    and an int8 graph (`impaint export --int8`) if one is given."""
    from ..inference.onnx_backend import (OnnxInpainter, OpenVinoInpainter,
                                          onnxruntime_available, openvino_available)
    from ..inference.onnx_export import cached_export
    from ..precision import bf16_is_fast

    runtimes = {}  # key -> (label, the fill's constructor, compared with PyTorch bf16?)
    if onnxruntime_available():
        runtimes["onnxruntime"] = ("onnxruntime fp32",
                                   lambda: OnnxInpainter(cached_export(checkpoint)), False)
    else:
        print("  onnxruntime: not installed (pip install 'impaint[onnx]')")
    fast = bf16_is_fast()
    if openvino_available():
        runtimes["openvino"] = (f"openvino {'bf16' if fast else 'fp32'}",
                                lambda: OpenVinoInpainter(cached_export(checkpoint)), fast)
        if int8:
            runtimes["openvino_int8"] = ("openvino int8", lambda: OpenVinoInpainter(int8), fast)
    else:
        print("  OpenVINO: not installed (pip install 'impaint[openvino]')")
    model = default_model(checkpoint).eval()
    fast_model = default_model(checkpoint).eval().to(memory_format=torch.channels_last)
    results = {}
    for key, (label, make, bf16) in runtimes.items():
        fill = make()
        for batch in (1, 64):
            img, mask = _inputs(batch, size, False)
            n = max(reps, 20 // batch or 1)
            base = _timeit(inference_fn(fast_model if bf16 else model, batch, size, bf16), n)
            sec = _timeit(lambda: fill(img, mask), n)
            print(f"  inference batch {batch:2d} {label:20s}: {batch / sec:7.1f} img/s "
                  f"({base / sec:.2f}x PyTorch {'bf16' if bf16 else 'fp32'} measured beside it)")
            results[f"infer_b{batch}_{key}"] = batch / sec
    return results


def large_rows(size: int, checkpoint: str | None = None) -> dict:
    """One size x size image (strokes, ~40 % missing): seconds per image for each backend
    and OpenCV Telea, the better of two calls after a warm-up (Telea, ~10 s here, needs none)."""
    from ..inference.onnx_backend import (OnnxInpainter, OpenVinoInpainter,
                                          onnxruntime_available, openvino_available)
    from ..inference.onnx_export import cached_export

    img = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    mask = make_mask("strokes", p=0.4)(size, size, torch.Generator().manual_seed(0))[None, None]
    # Channels-last, as `load_model` gives it to `impaint inpaint` (1.3-1.7x the plain layout's
    # fp32 on an AVX2 CPU).
    model = default_model(checkpoint).eval().to(memory_format=torch.channels_last)
    runs = {"PyTorch fp32": lambda: inpaint_with_std(model, img, mask)}
    if native_bf16():  # emulated elsewhere, and nothing runs it there
        runs["PyTorch bf16"] = lambda: inference_bf16(model, img, mask)
    if onnxruntime_available():
        ort_fill = OnnxInpainter(cached_export(checkpoint))
        runs["onnxruntime fp32"] = lambda: ort_fill(img, mask)
    if openvino_available():
        ov_fill = OpenVinoInpainter(cached_export(checkpoint))
        runs["OpenVINO"] = lambda: ov_fill(img, mask)
    arr, known = img[0].permute(1, 2, 0).numpy(), mask[0, 0].numpy()
    runs["OpenCV telea"] = lambda: BASELINES["telea"](arr, known)
    print(f"  one {size}x{size} picture, {float(1 - mask.mean()):.0%} missing in strokes, every "
          f"hole within the model's reach: one model pass (no pyramid, no flips), ms per image:")
    results = {}
    for name, fn in runs.items():
        sec = _timeit(fn, 1, warmup=int(name != "OpenCV telea"), rounds=2)
        print(f"  {size}x{size} {name:20s}: {sec * 1e3:7.0f} ms per image")
        results[f"large{size}_{name}"] = sec
    return results


def inference_bf16(model, img, mask):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return inpaint_with_std(model, img, mask)

