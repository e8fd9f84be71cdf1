"""Files that hold secrets (AppKeys, broker passwords): mode 0600 from their creation.

``write_text`` followed by ``chmod`` leaves the file readable by everyone for a moment (and
for good if the process dies in between); here the file is created with ``O_EXCL`` and mode
0600, so it never exists with a wider mode. An existing file is replaced, not reused, since
an existing file keeps whatever mode it had.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SECRET_MODE = 0o600


def write_secret(path: str | os.PathLike[str], text: str) -> Path:
    """Create ``path`` (replacing it) with ``text``, readable and writable by its owner only."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, SECRET_MODE)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return p
