"""Checks of what a command will write, made before its work (a leaf: imports nothing of
impaint). An output that cannot be made is said at once, in one line, the same way by every
command, not after minutes of work as the OS's "File exists" or "Not a directory".
"""

from __future__ import annotations

import os
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
