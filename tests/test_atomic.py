import subprocess
import sys

import pytest

from rootpipe.io.atomic import atomic_path


def test_a_store_is_replaced_whole_and_its_old_copy_removed(tmp_path, monkeypatch):
    final = tmp_path / "b.zarr"
    for text in ("old", "new"):
        with atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "chunk").write_text(text)
    assert (final / "chunk").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["b.zarr"]
    # The old store is never deleted in place: if the swap fails, it is put back whole.
    import rootpipe.io.atomic as atomic

    real = atomic.os.replace
    def fail_second(src, dst, calls=[]):  # noqa: B006 - the shared list counts the calls
        calls.append(src)
        if len(calls) == 2:
            raise OSError("disk gone")
        return real(src, dst)
    monkeypatch.setattr(atomic.os, "replace", fail_second)
    with pytest.raises(OSError, match="disk gone"):
        with atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "chunk").write_text("newer")
    assert (final / "chunk").read_text() == "new"


def test_a_live_writers_temporary_is_left_alone_and_a_dead_ones_removed(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        (tmp_path / f".t.parquet.tmp-{live.pid}").write_text("being written")
        (tmp_path / f".t.parquet.tmp-{dead}").write_text("left by a killed job")
        with atomic_path(tmp_path / "t.parquet") as tmp:
            tmp.write_text("mine")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".t.parquet.tmp-{live.pid}", "t.parquet"])
    finally:
        live.kill()


def test_a_file_reaches_the_disk_before_its_rename_and_the_rename_after(tmp_path, monkeypatch):
    import os

    import rootpipe.io.atomic as atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: events.append(("replace", str(b))) or real_replace(a, b))
    final = tmp_path / "t.parquet"
    with atomic_path(final) as tmp:
        tmp.write_text("table")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    assert events[0][1] == str(tmp) and events[1][1] == str(final) and events[2][1] == str(tmp_path)


def test_snakemakes_markers_leave_the_stores_and_each_store_keeps_its_time(tmp_path):
    import os

    from rootpipe.io.stores import SNAKEMAKE_MARKER, drop_snakemake_markers

    store = tmp_path / "segmentation" / "b1.zarr"
    store.mkdir(parents=True)
    (store / "zarr.json").write_text("{}")
    (store / SNAKEMAKE_MARKER).touch()
    os.utime(store, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    other = tmp_path / "figures"
    other.mkdir()
    (other / SNAKEMAKE_MARKER).touch()  # not a store: left alone
    assert drop_snakemake_markers(tmp_path) == 1
    assert not (store / SNAKEMAKE_MARKER).exists() and (store / "zarr.json").exists()
    assert store.stat().st_mtime_ns == 1_700_000_000_000_000_000  # what Snakemake and the track cache read
    assert (other / SNAKEMAKE_MARKER).exists()
