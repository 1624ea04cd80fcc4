"""Writing a file so that no reader ever sees half of it: a temporary file, then a rename."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Callable


def _file_mode(path: Path) -> int:
    """The permissions ``path`` has, or those ``open()`` would give a new file (0666 less the umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file in ``path``'s folder, fsync it and ``os.replace`` it
    onto ``path``; on any error the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes the file private (0600); give it a new file's mode
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not every platform can open a directory
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path
