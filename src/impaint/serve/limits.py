"""What the server accepts: its caps, apart from the app so that the CLI can show their
defaults without importing the web stack (Starlette and uvicorn load only for `serve`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    max_upload_mb: float = 20.0  # a whole request (image + mask + fields); more is 413
    # Longest side of the input, and of the output (input side × scale); more is 413. On the
    # 2-core machine a 2048-px photo with a quarter missing takes 2-3 s through the pipeline
    # and peaks at 1.2 GB (docs/any-size.md); rendering ×4 decodes the whole 2048-px output.
    max_side: int = 2048
    workers: int = 1  # inferences at once (each one already uses all of torch's threads)
    queue: int = 16  # requests waiting for a worker; one more is 503 with Retry-After
    max_samples: int = 8  # the page's "K samples" (each is one request)
