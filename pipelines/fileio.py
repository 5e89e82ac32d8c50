"""Atomic file writes, for every file the project produces.

A file is written under a temporary name in its own folder, flushed to disk, given the usual
permissions (``0666`` less the umask, as ``open()`` would; ``mkstemp`` alone gives ``0600``) and
renamed over the target: a reader sees the old file or the new one, never a part, and a killed
run leaves at most a ``.<name>.*.tmp`` file behind.

Every writer into a layer folder must go through here: a staged version shares unchanged files
with the current one by hard links (:mod:`pipelines.outputs`), so writing into an existing file
in place would change the published version too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling path to write; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; it replaces ``path`` on success."""
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with open(tmp, mode, **kwargs) as fh:
            yield fh


def atomic_write(path: str | os.PathLike[str], content: bytes | Callable[[Path], object]) -> Path:
    """Write ``content`` (bytes, or a function that writes the path it is given) atomically."""
    with atomic_path(path) as tmp:
        if isinstance(content, (bytes, bytearray)):
            tmp.write_bytes(content)
        else:
            content(tmp)
    return Path(path)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
