"""The one place raw keys are written: a new file, mode 0600, made durable before any of its
keys exists in Redis.

The file is created with O_EXCL (an existing file, or a symlink planted in its place, is never
followed or overwritten) and fsynced with its directory before the caller writes Redis, so a
crash at any point leaves no key in Redis whose raw value is lost: at worst the file lists keys
that were never created, which its closing line (or its absence) says.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from keyops.core.errors import BadInput

HEADER = "id\tname\tkey\n"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_secret_file(path: Path, title: str, rows: Iterable[tuple[str, str, str]]) -> None:
    """Write `# title`, a header and one `id<TAB>name<TAB>raw key` line per key to a file that
    must not exist yet; durable on return."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInput(f"{path} already exists: keyops never overwrites a key file") from None
    except OSError as error:
        raise BadInput(f"cannot create {path}: {error.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask allowed, never more than the owner
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as out:
            out.write(f"# {title}\n{HEADER}")
            for key_id, name, raw in rows:
                out.write(f"{key_id}\t{_one_line(name)}\t{raw}\n")
            out.flush()
            os.fsync(fd)
    except (OSError, UnicodeError) as error:
        # A full disk or a lost mount half way: none of these keys exists in Redis yet, so
        # the half file only holds raw keys of nothing (and would block the rerun): remove it.
        os.close(fd)
        path.unlink(missing_ok=True)
        raise BadInput(
            f"cannot write {path}: {getattr(error, 'strerror', None) or error}; no key was created"
        ) from None
    os.close(fd)
    _fsync_dir(path)


def note(path: Path, text: str) -> None:
    """Append a `# text` line (what became of the keys listed), durably."""
    with path.open("a", encoding="utf-8") as out:
        out.write(f"# {text}\n")
        out.flush()
        os.fsync(out.fileno())


def write_secret_stream(out: TextIO, title: str, rows: Iterable[tuple[str, str, str]]) -> None:
    """The same lines to a stream the operator asked for explicitly (`--out -`)."""
    out.write(f"# {title}\n{HEADER}")
    for key_id, name, raw in rows:
        out.write(f"{key_id}\t{_one_line(name)}\t{raw}\n")
    out.flush()


def _one_line(name: str) -> str:
    # A name is the operator's own text, but a tab or newline would break the file's columns;
    # a stored name's bytes that are not UTF-8 (lone surrogates here) could not be written.
    one_line = name.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return one_line.encode("utf-8", "backslashreplace").decode("utf-8")  # '\udcff' as text
