"""Progress bars that suit where they are shown (a leaf: imports nothing of impaint).

A terminal redraws a bar's one line as often as it likes; a log file or a pipe keeps every
redraw, so there a bar redraws at most every `LOG_INTERVAL` seconds: `impaint train > log
2>&1` wrote about 10 redraws a second, megabytes in an hour of a 12,000-step run. In a
notebook (its stderr is no terminal either, but it redraws) bars stay as tqdm makes them.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL = 30.0  # s between a bar's redraws in a log file or a pipe


def redrawn() -> bool:
    """Whether a bar is redrawn in place where it is shown (a terminal, a notebook), so that
    one may go away when done (leave=False): in a log it would stay behind, stuck."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def bar(*args, **kwargs) -> tqdm:
    """`tqdm(*args, **kwargs)`, redrawn at most every LOG_INTERVAL s off a terminal."""
    if not redrawn():
        kwargs.setdefault("mininterval", LOG_INTERVAL)
    return tqdm(*args, **kwargs)
