"""Atomic file writes (see :mod:`pipelines.fileio`)."""

from ..fileio import atomic_open, atomic_write

__all__ = ["atomic_open", "write_bytes_atomic"]


def write_bytes_atomic(path, data: bytes):
    return atomic_write(path, data)
