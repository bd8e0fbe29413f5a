"""An advisory lock on a file: every process one at a time, and this process's threads one at a time too.

Example:
    >>> with exclusive(index_dir / ".lock"):      # doctest: +SKIP
    ...     write_the_index()
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path


@contextmanager
def exclusive(path: Path, threads: threading.Lock | None = None) -> Iterator[None]:
    """Hold ``path``'s lock (created if missing), after ``threads`` when given (``flock`` alone does not keep two
    threads of one process apart once each has opened the file)."""
    with threads or nullcontext(), open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
