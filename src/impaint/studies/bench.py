"""`impaint bench`: how fast this machine trains and inpaints, against what it could do.

Prints matmul GFLOP/s (the ceiling), training images/s with its achieved GFLOP/s as a fraction
of that ceiling, and inference images/s against OpenCV Telea on the same masks. Timings are
printed, never asserted: run it on an otherwise idle machine.

This module holds `run_bench` and prints its table; the rows it times live beside it: the
timer, the model, its inputs and the timed step and call in timing.py, the exported graphs and
the one-pass large picture per backend in bench_backends.py, the one-thread processes in
bench_processes.py, the large photos through the pipeline in bench_large.py. Every public
name this module held before that split is still importable from it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..evaluation.baselines import BASELINES
from ..precision import native_bf16
from .bench_backends import graph_rows, large_rows
from .bench_large import large_image_bench
from .bench_processes import process_rows
from .timing import (_inputs, _timeit, default_model, fast_dtype, fast_name, inference_fn,
                     matmul_gflops, train_flops_per_image, train_step_fn)
# The old path: names that lived here before the split, imported from here by users and code.
from .bench_backends import inference_bf16  # noqa: F401
from .bench_large import LARGE_BACKENDS, large_photo  # noqa: F401
from .bench_processes import process_rates  # noqa: F401


def run_bench(quick: bool = False, size: int = 32, int8: str | None = None,
              checkpoint: str | None = None) -> dict:
    """Every row, timed on the default configuration or on `checkpoint`'s."""
    reps = 3 if quick else 10
    print(f"impaint bench: {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{size}x{size} images; the network of "
          + (f"{checkpoint}" if checkpoint else "celeba32 and general (the shipped models' "
             "configuration)"))
    if not native_bf16():
        print("  this CPU has no native bf16 (AVX-512 BF16 or AMX): the fast rows run fp32 "
              "+ channels_last, as impaint does here; bf16 would be emulated")
    peak = {"fp32": matmul_gflops(torch.float32)}
    if native_bf16():  # emulated, a 2048^2 bf16 matmul takes minutes and says nothing
        peak["bf16"] = matmul_gflops(torch.bfloat16)
    for k, v in peak.items():
        print(f"  matmul 2048^2 {k}: {v:7.1f} GFLOP/s")
    flops = train_flops_per_image(size, checkpoint=checkpoint)
    print(f"  training FLOPs per image (forward + backward): {flops / 1e9:.2f} GFLOP")
    results = {"matmul_gflops": peak, "train_gflop_per_image": flops / 1e9}
    for name, fast in (("fp32", False), (fast_name(), True)):
        model = default_model(checkpoint).train()
        sec = _timeit(train_step_fn(model, 64, size, fast), reps)
        ips = 64 / sec
        achieved = ips * flops / 1e9
        dtype = fast_dtype() if fast else "fp32"
        # Over 100 %: oneDNN's convolutions outrun torch's 2048^2 matmul, the yardstick
        print(f"  train {name:20s}: {ips:6.1f} img/s, {achieved:6.1f} GFLOP/s "
              f"= {achieved / peak[dtype]:.0%} of the {dtype} matmul figure above")
        results[f"train_{name}"] = ips
    model = default_model(checkpoint).eval()
    fast_model = default_model(checkpoint).eval().to(memory_format=torch.channels_last)
    img, mask = _inputs(64, size, False)  # the timed masks; OpenCV gets them below too
    holes = 1 - float(mask.mean())
    print(f"  inference = inpaint_with_std (mean and σ), mixture masks, {holes:.0%} missing")
    for batch in (1, 64):
        for name, fast, m in (("fp32", False, model), (fast_name(), True, fast_model)):
            sec = _timeit(inference_fn(m, batch, size, fast), max(reps, 20 // batch or 1))
            print(f"  inference batch {batch:2d} {name:20s}: {batch / sec:7.1f} img/s")
            results[f"infer_b{batch}_{name}"] = batch / sec
    # The decoder's share grows with the hole: decoding every pixel is the worst case.
    sec = _timeit(inference_fn(fast_model, 64, size, True, every_pixel=True), reps)
    print(f"  inference batch 64 {fast_dtype() + ', every pixel':20s}: {64 / sec:7.1f} img/s "
          "(decoder at every pixel, as for a full mask)")
    results["infer_b64_every_pixel"] = 64 / sec
    results.update(graph_rows(size, reps, int8, checkpoint))
    imgs = [i.permute(1, 2, 0).numpy() for i in img]
    masks = [m[0].numpy() for m in mask]
    for method in ("telea", "navier_stokes"):
        fn = BASELINES[method]
        sec = _timeit(lambda: [fn(i, m) for i, m in zip(imgs, masks)], 1, warmup=1)
        print(f"  OpenCV {method:14s} (one image at a time): {64 / sec:7.1f} img/s")
        results[f"opencv_{method}"] = 64 / sec
    fastest = {k: v for k, v in results.items() if k.startswith("infer_b64_") and "every" not in k}
    print("  batch 64 / OpenCV Telea: " + ", ".join(
        f"{k[len('infer_b64_'):]} {v / results['opencv_telea']:.2f}x" for k, v in fastest.items()))
    results.update(process_rows(size, 5 if quick else 20, checkpoint))
    results.update(large_rows(512, checkpoint))
    print("  large photos through the multi-scale pipeline (a quarter missing, one centred box;"
          " end to end, one process each):")
    results["large"] = large_image_bench((512,) if quick else (512, 2048), checkpoint)
    return results



if __name__ == "__main__":
    np.set_printoptions(precision=2)
    run_bench()
