"""A small real filesystem (tmpfs) that fills up: what a gateway's state directory sees on a full disk.

Mounting needs root (tests run as root here, as CI does); the mount is lazily detached afterwards, so a process that
still holds a file there does not keep it busy.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHUNK = 64 * 1024


@contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at path (created) for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Fill the filesystem holding path to the last byte; returns the filler file (delete it to free the space)."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (CHUNK, 1):  # big steps, then byte by byte to the last one
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as full:
                assert full.errno == errno.ENOSPC, full
    return filler


def is_root() -> bool:
    return os.geteuid() == 0
