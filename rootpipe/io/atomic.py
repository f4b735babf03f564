"""Atomic outputs: write to a temporary sibling, rename into place on success.

A killed job leaves only a ``.NAME.tmp-PID`` sibling, which no rule trusts and
the next writer of the same output removes.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import; os.umask can only be read by setting it


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file or a folder's entries) to disk; best effort on folders."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():  # some file systems cannot sync a folder; a file must sync
            raise
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(final: Path) -> None:
    """Delete temporaries left next to ``final`` by killed writers (not a live writer's)."""
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        _remove(stale)


@contextlib.contextmanager
def atomic_path(final: str | Path):
    """Yield a temporary path to write; move it to ``final`` when the block succeeds.

    Works for files and for directories (zarr stores). On an exception the
    temporary is deleted and ``final`` is left as it was. A file is flushed to disk
    before the rename and the rename after it, so a power cut cannot leave an empty
    table under the final name; a store's many chunk files are not flushed one by one
    (costly on cluster file systems).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    _remove(tmp)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    try:
        if tmp.is_file() and not tmp.is_symlink():
            # Some writers (safetensors) create their file 0600: give it the mode any new file
            # gets, so a shared model or table is readable by the group as the umask intends.
            os.chmod(tmp, 0o666 & ~_UMASK)
            _fsync(tmp)
        if tmp.is_dir() and final.exists():
            # os.replace cannot replace a non-empty directory. Deleting it in place could be
            # killed halfway, leaving a store that opens but reads its lost chunks as zeros:
            # move it aside whole instead (a temporary name the next writer removes).
            old = final.parent / f".{final.name}.tmp-old-{os.getpid()}"
            _remove(old)
            os.replace(final, old)
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old, final)  # put the old output back
                raise
            _remove(old)
            return
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    _fsync(final.parent)


def write_text_if_changed(path: str | Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that.

    Keeping the old file (and its mtime) is what lets Snakemake skip every
    job downstream of an unchanged batch list.

    Returns
    -------
    bool
        True if the file was (re)written.
    """
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return False
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return True


def write_table(frame, parquet_path: str | Path) -> Path:
    """Write a DataFrame as parquet and, beside it with the same stem, as CSV for spreadsheets.

    The parquet file is written last: it is what the workflow's later rules read.
    Returns the CSV's path.
    """
    parquet_path = Path(parquet_path)
    csv_path = parquet_path.with_suffix(".csv")
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(parquet_path) as tmp:
        frame.to_parquet(tmp, index=False)
    return csv_path
