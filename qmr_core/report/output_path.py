"""Output files that never clobber: checks before writing, and a write that lands whole or not at all.

`check_output` refuses (one line each) a folder, a missing parent folder, the store itself and the
files that live next to it (annotations, DuckDB's WAL, the writer sidecar), any DuckDB database file,
and an existing file unless `force`. `atomic_output` hands out a temporary file in the same folder and
renames it over the target only once the writer has finished, so an interrupted export leaves the old
file (or nothing) behind, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from qmr_core.errors import QmrError

_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def is_duckdb_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[8:12] == _DUCKDB_MAGIC


def store_companions(store_path: Path) -> list[Path]:
    """The store and every file qmr or DuckDB keeps next to it."""
    name = store_path.name
    return [store_path] + [store_path.with_name(name + suffix) for suffix in
                           (".wal", ".writer-waiting")]


def _same_file(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output(out: Path, protected: Iterable[Path] = (), force: bool = False) -> Path:
    """The path to write, or one clear QmrError saying why not."""
    out = out.expanduser()
    for path in protected:
        if _same_file(out, path):
            raise QmrError(f"refusing to write over {path}: it is the store or a file the store keeps next to it")
    if out.is_dir():
        raise QmrError(f"--out {out} is a folder; name a file in it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise QmrError(f"output folder {parent} does not exist")
    if out.exists():
        if is_duckdb_file(out):
            raise QmrError(f"refusing to write over {out}: it is a DuckDB database")
        if not force:
            raise QmrError(f"{out} exists; pass --force to replace it")
        if not out.is_file():
            raise QmrError(f"{out} is not a regular file")
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """A temporary path next to `out`; renamed onto `out` when the block ends without an error."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or ".")
    except OSError as exc:
        raise QmrError(f"cannot write to {out.parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, out.stat().st_mode & 0o777 if out.exists() else 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        raise QmrError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
