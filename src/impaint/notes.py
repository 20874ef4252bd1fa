"""Notes on the user's input where the work goes on regardless (a leaf: imports nothing of
impaint): an animation read by its first frame, unreadable images skipped in a data folder.

They are warnings (`ImpaintWarning`), not prints, so that a program using the library can
silence them or make them errors (`warnings.simplefilter("error", ImpaintWarning)`); the CLI
prints each as one line, `impaint: note: ...` on stderr (`printed`).
"""

from __future__ import annotations

import contextlib
import sys
import warnings


class ImpaintWarning(UserWarning):
    """A note on the input: what was done about it, the work having gone on."""


def note(message: str) -> None:
    """Warn `message` as an ImpaintWarning, located one call above the function that notes
    it (nearer the code that handed over the input than this module)."""
    warnings.warn(message, ImpaintWarning, stacklevel=3)


@contextlib.contextmanager
def printed():
    """Within: every note printed as `impaint: note: MESSAGE` on stderr, each time it is
    given (Python's default shows one once per place: a folder's second GIF would say
    nothing); other warnings as Python shows them."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", ImpaintWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ImpaintWarning):
                print(f"impaint: note: {message}", file=sys.stderr, flush=True)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield
