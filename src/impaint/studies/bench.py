"""`impaint bench`: how fast this machine trains and inpaints, against what it could do.

Prints matmul GFLOP/s (the ceiling), training images/s with its achieved GFLOP/s as a fraction
of that ceiling, and inference images/s against OpenCV Telea on the same masks. Timings are
printed, never asserted: run it on an otherwise idle machine.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..data.masks import MixtureMask, make_mask, mask_batch
from ..evaluation.baselines import BASELINES
from ..model import ImplicitInpainter, compose, inpaint_with_std
from ..precision import native_bf16
from ..train import TrainConfig
from ..train.losses import inpainting_loss


def _timeit(fn, repeats: int, warmup: int = 2, rounds: int = 3) -> float:
    """Seconds per call, best of a few rounds (the least disturbed one)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t) / repeats)
    return best


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / _timeit(lambda: a @ b, repeats) / 1e9


def _inputs(batch: int, size: int, channels_last: bool):
    rng = torch.Generator().manual_seed(0)
    img = torch.rand(batch, 3, size, size, generator=rng)
    mask = mask_batch(MixtureMask(full_prob=0.0), batch, size, size, rng)
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
        mask = mask.contiguous(memory_format=torch.channels_last)
    return img, mask


def default_model(checkpoint: str | None = None) -> ImplicitInpainter:
    """The model `impaint train` trains by default (and the shipped one's configuration), or
    a fresh copy of `checkpoint` (a file or a shipped name): the speed of its configuration,
    a wider model's, say (`impaint bench --checkpoint`). In the plain (NCHW) layout either
    way, as `load_model`'s channels-last is one of the things the rows compare."""
    if checkpoint is None:
        return ImplicitInpainter(TrainConfig().model)
    from ..model import load_model
    return load_model(checkpoint).to(memory_format=torch.contiguous_format)


def fast_dtype() -> str:
    """The fast configuration's precision: bf16 only where the CPU computes it
    (impaint.precision); emulated, it trains ~18x slower than fp32, and nothing uses it."""
    return "bf16" if native_bf16() else "fp32"


def fast_name() -> str:
    return f"{fast_dtype()}+channels_last"


def train_step_fn(model, batch: int, size: int, fast: bool):
    """One AdamW step of the real loss, with or without the fast configuration (channels_last,
    and bf16 where the CPU has it)."""
    if fast:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    img, mask = _inputs(batch, size, fast)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast and native_bf16()):
            pred, sigma = model(img, mask, with_sigma=True, holes_of=mask)  # as train.py
        pred = pred.float()
        loss, _ = inpainting_loss(pred, compose(img, mask, pred), img, mask, 1.0, 0.01, sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def train_flops_per_image(size: int, batch: int = 64, checkpoint: str | None = None) -> float:
    """FLOPs of one training step per image, on the same masks as the timed step (the decoder
    runs on their holes only, so the count depends on them)."""
    model = default_model(checkpoint)
    img, mask = _inputs(batch, size, False)
    with FlopCounterMode(display=False) as counter:
        model(img, mask, holes_of=mask).sum().backward()
    return counter.get_total_flops() / batch


def inference_fn(model, batch: int, size: int, fast: bool, every_pixel: bool = False):
    """`inpaint_with_std` (mean and σ, decoding the holes only), or with `every_pixel` the
    model's forward (decoding every pixel, as training does), composed the same way."""
    img, mask = _inputs(batch, size, fast)

    @torch.no_grad()
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast and native_bf16()):
            if not every_pixel:
                return inpaint_with_std(model, img, mask)
            pred, sigma = model(img, mask, with_sigma=True)
        return compose(img, mask, pred.float()), sigma
    return run


def large_photo(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-image's astronaut (512 px) at side x side, with a centred box hole covering a
    quarter of it (half the side each way). Larger sides mirror-tile it rather than upscale
    it: a photo's own detail at every level, which the pipeline re-fills (an upscaled
    picture's finest levels are flat, and the pipeline skips them)."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    if side <= img.shape[-1]:
        img = F.interpolate(img, size=(side, side), mode="bicubic", antialias=True).clamp(0, 1)
    else:
        row = torch.cat([img, img.flip(-1)] * (side // (2 * img.shape[-1]) + 1), dim=-1)
        img = torch.cat([row, row.flip(-2)] * (side // (2 * img.shape[-2]) + 1), dim=-2)
        img = img[..., :side, :side].contiguous()
    mask = torch.ones(1, 1, side, side)
    mask[..., side // 4:side // 4 + side // 2, side // 4:side // 4 + side // 2] = 0
    return img, mask


def _peak_rss_gb() -> float:
    """This process's peak resident memory, in GB (10⁹ bytes). Linux's VmHWM belongs to the
    process's own address space; ru_maxrss would also count the parent's RSS at fork time,
    since Linux carries it across the exec that starts a spawned worker (the bench's parent
    holds ~1.5 GB)."""
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024 / 1e9  # GB, as printed (KiB / 2**20 was GiB: 7 % less)


# PyTorch fp32, PyTorch bf16 autocast, OpenVINO; and bf16 with `impaint inpaint`'s default
# averaging (`auto_averaged`: 2 flips at 512 px; at 2048 px one pass, the bf16 row's).
LARGE_BACKENDS = ("fp32", "bf16", "openvino", "auto")


def _large_run(side: int, backend: str, checkpoint: str | None = None) -> dict:
    """In a fresh process: the shipped model through the pipeline on `large_photo(side)`;
    wall time, peak memory (RSS), and the pixels and time of its model passes. `backend`: one
    of LARGE_BACKENDS (OpenVINO in its own precision: bf16 where the CPU has it). (OpenCV
    Telea is timed in `large_rows`: its radius grows with the side, 48 px at 512, and at
    2048 px it would take minutes.)"""
    from ..inference.averaged import auto_averaged
    from ..inference.onnx_backend import load_backend
    from ..inference.pipeline import coarse_of, inpaint_pyramid, model_single
    from ..precision import bf16_is_fast
    from ..inference.pyramid import Pyramid, with_traits
    from ..model import load_model

    # A pair ("faces") brings its coarse model for the coarsest level, as `inpaint` runs it.
    if backend == "openvino":
        single = load_backend("openvino", checkpoint)
        coarse = coarse_of(single)
    else:
        # auto: as `impaint inpaint` runs, bf16 where the CPU has it (and --fp32 is not asked)
        bf16 = backend == "bf16" or (backend == "auto" and bf16_is_fast())
        model = load_model(checkpoint).eval()
        single, coarse = model_single(model, bf16=bf16), coarse_of(model, bf16=bf16)
    img, mask = large_photo(side)
    cfg = auto_averaged((side, side)) if backend == "auto" else Pyramid()
    passes = []  # (pixels, seconds) of each model pass

    def timed(image, m):
        t = time.perf_counter()
        out = single(image, m)
        passes.append((image.shape[-2] * image.shape[-1], time.perf_counter() - t))
        return out
    with_traits(timed, single)  # its σ and pooling grid, as the pipeline reads them

    inpaint_pyramid(single, *large_photo(64), coarse=coarse)  # warm-up
    t = time.perf_counter()
    with torch.no_grad():
        inpaint_pyramid(timed, img, mask, cfg, coarse=coarse)
    seconds = time.perf_counter() - t
    peak_gb = _peak_rss_gb()
    return {"seconds": seconds, "peak_gb": peak_gb,
            "passes": len(passes), "model_mpx": sum(p for p, _ in passes) / 1e6,
            "model_seconds": sum(s for _, s in passes)}


def large_image_bench(sides=(512, 2048), checkpoint: str | None = None) -> dict:
    """`_large_run` for each side and backend, each in its own process (clean peak RSS)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..inference.averaged import auto_averaged
    from ..inference.onnx_backend import openvino_available

    results = {}
    for side in sides:
        auto = auto_averaged((side, side))
        for backend in LARGE_BACKENDS:
            if backend == "openvino" and not openvino_available():
                continue
            if backend == "bf16" and not native_bf16():  # emulated: nothing runs it here
                continue
            if backend == "auto" and not auto.averaged:  # one pass: the bf16 row
                continue
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as p:
                r = p.submit(_large_run, side, backend, checkpoint).result()
            name = f"{side}px {backend}" + (f" ({auto.flips} flips, {auto.rounds} rounds)"
                                             if backend == "auto" else "")
            print(f"  {name}: {r['seconds']:6.2f} s, peak {r['peak_gb']:.2f} GB "
                  f"; {r['passes']} model passes on "
                  f"{r['model_mpx']:.2f} Mpx took {r['model_seconds']:.2f} s, the pyramid "
                  f"(distances, pooling, upsampling) the rest")
            results[name] = r
    return results


def _one_thread_worker(kind: str, size: int, seconds: float, barrier, queue,
                       checkpoint: str | None = None) -> None:
    """One process, one thread: bf16 + channels-last training steps or inference at batch 64
    for `seconds` once every worker is ready; puts its images per second on `queue`."""
    torch.set_num_threads(1)
    model = default_model(checkpoint)
    fn = (train_step_fn(model.train(), 64, size, True) if kind == "train" else
          inference_fn(model.eval().to(memory_format=torch.channels_last), 64, size, True))
    fn(), fn()  # warm-up: oneDNN picks its kernels
    barrier.wait()  # every process times the same stretch of wall time
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds:
        fn()
        n += 1
    queue.put(64 * n / (time.perf_counter() - t))


def process_rates(kind: str, size: int, processes: int, seconds: float,
                  checkpoint: str | None = None) -> list[float]:
    """Images per second of each of `processes` one-thread processes running `kind` ("train"
    or "infer") side by side: what data parallelism over processes (`impaint train --nproc`,
    one worker process per core) gets from this machine, next to one process's threads."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_one_thread_worker,
                           args=(kind, size, seconds, barrier, queue, checkpoint))
               for _ in range(processes)]
    for w in workers:
        w.start()
    rates = [queue.get(timeout=seconds + 300) for _ in workers]
    for w in workers:
        w.join()
    return rates


def process_rows(size: int, seconds: float, checkpoint: str | None = None) -> dict:
    """Training steps and inference in one one-thread process, then in one per core."""
    cores = os.cpu_count() or 1
    results = {}
    print(f"  one thread per process, {fast_name()}, batch 64 (processes side by side):")
    for kind in ("train", "infer"):
        for procs in sorted({1, cores}):
            rates = process_rates(kind, size, procs, seconds, checkpoint)
            each = ", ".join(f"{r:.0f}" for r in rates)
            print(f"  {kind:5s} {procs} process{'es' if procs > 1 else '  '} x 1 thread: "
                  f"{sum(rates):7.1f} img/s in all ({each})")
            results[f"{kind}_{procs}x1"] = sum(rates)
    return results


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


def graph_rows(size: int, reps: int, int8: str | None = None,
               checkpoint: str | None = None) -> dict:
    """The exported graph (holes decoded only, as PyTorch does) on the same inputs as the
    PyTorch rows: onnxruntime (fp32) with its ratio to PyTorch fp32 measured just before it,
    OpenVINO (bf16 where the CPU has it, as PyTorch's default) with its ratio to PyTorch bf16,
    and an int8 graph (`impaint export --int8`) if one is given."""
    from ..inference.onnx_backend import (OnnxInpainter, OpenVinoInpainter, cached_export,
                                          onnxruntime_available, openvino_available)
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
    from ..inference.onnx_backend import (OnnxInpainter, OpenVinoInpainter, cached_export,
                                          onnxruntime_available, openvino_available)

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


if __name__ == "__main__":
    np.set_printoptions(precision=2)
    run_bench()
