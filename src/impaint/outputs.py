"""What a command writes (a leaf: imports nothing of impaint): checked before its work, and
written whole. An output that cannot be made is said at once, in one line, the same way by
every command, not after minutes of work as the OS's "File exists" or "Not a directory"; a
file is written under a temporary name and renamed, so that Ctrl-C or a full disk never
leaves half of one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


class OutputError(ValueError):
    """An output that cannot be written where it is named."""


def check_output(path: str | os.PathLike, kind: str, flag: str = "-o") -> Path:
    """`path` as a Path, or an OutputError if a `kind` ("file" or "folder") cannot be written
    there: an empty name (an unset shell variable: it would mean the current folder), a
    folder named for a file or a file for a folder, a place under a file, or one this user
    cannot write in."""
    if not str(path).strip():
        raise OutputError(f"{flag} is empty: name the {kind} to write")
    path = Path(path)
    if kind == "folder" and path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path} is a file: {flag} names the folder to write into")
    if kind == "file" and path.is_dir():
        raise OutputError(f"{flag} {path} is a folder: {flag} names the file to write")
    # The nearest folder that exists: where the output, or the first folder to make, goes.
    place = path if path.is_dir() else next(p for p in path.absolute().parents if p.exists())
    if not place.is_dir():
        raise OutputError(f"cannot write {path}: {place} is a file, not a folder")
    if not os.access(place, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: {place} is not writable")
    return path


def temporary_name(path: Path, suffix: str = ".tmp") -> Path:
    """A name beside `path` that no other writer uses: the process id alone repeats across
    machines (containers sharing a cache folder start their processes in the same order)."""
    return path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{suffix}")


@contextlib.contextmanager
def written_atomically(path: Path):
    """Within: write the file at the yielded temporary name beside `path`; after, it is
    renamed to `path` whole. A full disk or Ctrl-C leaves no half-written file behind."""
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
