"""A bounded load test of `impaint serve`: latency, errors and the server's memory.

    python -m impaint.serve.loadtest [--requests 300] [--concurrency 8] [--checkpoint PATH]

Starts its own server on a free port of 127.0.0.1 (never another host), sends REQUESTS
inpainting requests, CONCURRENCY at a time (images of 64, 128 and 256 px, a different stroke
mask each, every tenth asking for σ), stops the server and prints p50 / p95 latency, the
errors, and the server's resident memory (Linux /proc) as the run went on: flat is the target.
Needs httpx (in the `test` extra).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.masks import make_mask

SIZES = (64, 128, 256)


def payloads(n: int, seed: int = 0) -> list[dict]:
    """n requests: smooth colour images with a stroke hole, as PNG files (white = hole)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s = SIZES[i % len(SIZES)]
        yy, xx = np.mgrid[0:s, 0:s] / s
        a = rng.uniform(0, 1, (3, 3))
        img = np.clip(a[:, :1, None] + a[:, 1:2, None] * xx + a[:, 2:, None] * yy, 0, 2) / 2
        hole = make_mask("strokes", p=0.3)(s, s, gen) == 0  # the library's mask: 1 = known
        out.append({"image": png((img.transpose(1, 2, 0) * 255).astype(np.uint8)),
                    "mask": png(hole.numpy().astype(np.uint8) * 255),
                    "view": "sigma" if i % 10 == 9 else "result"})
    return out


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a process, from /proc; (nan, nan) elsewhere."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                      .splitlines() if ":" in line)
        # kB (KiB) -> MB (10⁶ bytes), as printed
        return (int(fields["VmRSS"].split()[0]) * 1024 / 1e6,
                int(fields["VmHWM"].split()[0]) * 1024 / 1e6)
    except (OSError, KeyError, ValueError):
        return float("nan"), float("nan")


def start_server(checkpoint: str | None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "impaint.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(cmd + (["--checkpoint", checkpoint] if checkpoint else []),
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "impaint serve: http://127.0.0.1:PORT ..."
    if not line.startswith("impaint serve: http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, line.split()[2]


def run(requests: int, concurrency: int, checkpoint: str | None) -> dict:
    import httpx

    work = payloads(requests)
    proc, url = start_server(checkpoint)
    latencies, memory = [], []
    done = threading.Event()

    def sample_memory():
        while not done.wait(0.1):
            memory.append((len(latencies), *rss_mb(proc.pid)))

    def one(client: httpx.Client, p: dict) -> str | None:
        """One request, timed -> its error, None if it succeeded (the caller counts them:
        this runs on CONCURRENCY threads at once)."""
        start = time.perf_counter()
        try:
            r = client.post(f"{url}/api/inpaint", data={"view": p["view"]},
                            files={"image": ("i.png", p["image"]), "mask": ("m.png", p["mask"])})
            key = None if r.status_code == 200 else f"HTTP {r.status_code}: {r.text[:80]}"
        except httpx.HTTPError as e:
            key = type(e).__name__
        latencies.append(time.perf_counter() - start)
        return key

    try:
        with httpx.Client(timeout=120) as client:
            for p in work[:len(SIZES)]:  # warm-up, not counted: the first calls build kernels
                one(client, p)
            latencies.clear()
            warm = rss_mb(proc.pid)[0]
            threading.Thread(target=sample_memory, daemon=True).start()
            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                errors = Counter(key for key in pool.map(lambda p: one(client, p), work) if key)
            wall = time.perf_counter() - start
        done.set()
        end, peak = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"requests": requests, "concurrency": concurrency, "wall_s": wall,
            "latencies": latencies, "errors": dict(errors), "rss_warm_mb": warm, "rss_end_mb": end,
            "rss_peak_mb": peak, "memory": memory}


def report(r: dict) -> str:
    # inclusive: percentiles within the measured range (the default extrapolates past the
    # largest latency on a short run: a p95 above the max); one latency is every percentile
    # (quantiles wants two before Python 3.13)
    q = statistics.quantiles(r["latencies"], n=100, method="inclusive") \
        if len(r["latencies"]) > 1 else r["latencies"] * 99
    # The resident memory at each tenth of the run: a leak climbs, a bounded server stays flat.
    tenths = [next((m[1] for m in reversed(r["memory"]) if m[0] <= r["requests"] * k / 10),
                   None) for k in range(1, 11)]
    return "\n".join([
        f"{r['requests']} requests, {r['concurrency']} at a time, in {r['wall_s']:.1f} s "
        f"({r['requests'] / r['wall_s']:.1f} req/s); images {'/'.join(map(str, SIZES))} px",
        f"latency: p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, "
        f"max {max(r['latencies']) * 1000:.0f} ms",
        f"errors: {sum(r['errors'].values())}" +
        "".join(f"\n  {n} x {k}" for k, n in r["errors"].items()),
        f"server memory (RSS): {r['rss_warm_mb']:.0f} MB after warm-up, peak "
        f"{r['rss_peak_mb']:.0f} MB, {r['rss_end_mb']:.0f} MB at the end",
        "RSS at each tenth of the run (MB): " + " ".join(
            "-" if m is None else f"{m:.0f}" for m in tenths)])  # -: not sampled by then


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--checkpoint", help="a checkpoint file or a shipped model's name "
                                         "(default: general, as impaint serve's)")
    args = ap.parse_args(argv)
    if not (0 < args.requests <= 10_000 and 0 < args.concurrency <= 64):
        ap.error("--requests must be 1 to 10000 and --concurrency 1 to 64")
    r = run(args.requests, args.concurrency, args.checkpoint)
    print(report(r))
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
