"""The bench's large photos: the shipped model through the multi-scale pipeline at 512 and
2048 px (a quarter missing, one centred box), end to end, each backend in a fresh process for
a clean peak memory (RSS); wall time, and the pixels and time of its model passes.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..precision import native_bf16


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
