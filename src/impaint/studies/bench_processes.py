"""The bench's one-thread processes side by side: training steps and inference at batch 64 in
one process of one thread, then in one per core, the data parallelism over processes of
`impaint train --nproc`, next to one process's threads.
"""

from __future__ import annotations

import os
import time

import torch

from .timing import default_model, fast_name, inference_fn, train_step_fn


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
