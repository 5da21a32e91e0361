"""Write files that hold secrets so that no other user can read them at any moment.

`Path.write_text` followed by `chmod` leaves a window in which the file exists with the umask's
mode (usually 0644) and its content is world-readable. Here the file is created 0600 (`O_EXCL`
on a temporary name next to it), handed to its owner, written, then renamed into place, so the
secret is never readable by anyone but the owner, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: Path, text: str, *, uid: int | None = None, gid: int | None = None) -> Path:
    """Atomically write `text` to `path` with mode 0600 (owned by uid/gid when given)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # the umask can only narrow the mode; make it exact
        if uid is not None:
            os.fchown(fd, uid, gid if gid is not None else -1)
        os.write(fd, text.encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    return path
