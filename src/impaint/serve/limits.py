"""What the server accepts: its caps, apart from the app so that the CLI can show their
defaults without importing the web stack (Starlette and uvicorn load only for `serve`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    max_upload_mb: float = 20.0  # a whole request (image + mask + fields); more is 413
    # Longest side of the input (and of the output at x1); more is 413. A phone's photo
    # (4032 x 3024) fits. On the 2-core machine a 4096-px picture took 8.6-9.8 s and 2.8-2.9 GB
    # with a quarter of it in one box, 21-28 s and 1.6-2.2 GB with half its pixels missing
    # everywhere (measured twice, the second time through the API: docs/serve.md, "Caps"; the
    # pipeline's tiles bound the memory of both).
    max_side: int = 4096
    # Longest side of an output rendered at x2 or x4: every output pixel is a decoder query
    # (a 512-px photo at x4 took 8.1 s and 0.89 GB through the CLI), so this stays lower.
    max_render: int = 2048
    # Pixels of an image a sample (sample >= 1) is drawn on; more is 413. A sample is decoded
    # whole, not in the pipeline's tiles, at some 1.6 KB a pixel: with the general model's
    # settings and latent_dim=8, 768 x 768 peaked at 1.2 GB and 1024 x 1024 at 1.9 GB on the
    # 2-core machine, so a phone's photo would have needed some 20 GB.
    max_sample_pixels: int = 768 * 768
    workers: int = 1  # inferences at once (each one already uses all of torch's threads)
    queue: int = 16  # requests waiting for a worker; one more is 503 with Retry-After
    max_samples: int = 8  # the page's "K samples" (each is one request)
