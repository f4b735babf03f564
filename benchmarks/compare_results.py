"""Compare two results folders table by table, bit for bit (a redesign must not change a number).

    python benchmarks/compare_results.py OLD_RESULTS NEW_RESULTS

Every parquet table is compared as data (values, dtypes, column order; parquet files also
record the writer's library versions, so their bytes are not compared), every CSV, RSML and
text output byte for byte, and every array of the zarr stores element for element. Run both
on the same input files (copied with their times: ``cp -a``), since the manifest records
file times. The per-series tracking cache is compared without its signatures (they include
the stores' file times). Logs, benchmarks and the report (it holds the run's date) are left out.
Exit status 1 and a list when anything differs.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

# Snakemake's marker file inside directory outputs is not part of the store.
warnings.filterwarnings("ignore", message=".*snakemake_timestamp")

SKIP_DIRS = {"logs", "benchmarks", ".snakemake"}
#: run bookkeeping, not results: the run lock, the folder runs start from, the layout record
SKIP_FILES = {".rootpipe-run.lock", ".rootpipe-workdir", ".rootpipe-layout.json", ".snakemake_timestamp"}


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name not in SKIP_FILES
            and not SKIP_DIRS & set(p.relative_to(root).parts) and ".zarr" not in str(p)}


def _arrays(group: zarr.Group, prefix: str = ""):
    for name, item in group.members():
        if isinstance(item, zarr.Array):
            yield f"{prefix}{name}", item
        else:
            yield from _arrays(item, f"{prefix}{name}/")


def compare(old: Path, new: Path) -> list[str]:
    """Differences between two results folders, as lines (empty when equal)."""
    problems = []
    old_files, new_files = _files(old), _files(new)
    for rel in sorted(old_files ^ new_files):
        problems.append(f"{rel}: only in {'old' if rel in old_files else 'new'}")
    compared = 0
    for rel in sorted(old_files & new_files):
        if rel.suffix == ".html":
            continue
        a, b = old / rel, new / rel
        if rel.suffix == ".npz":
            with np.load(a) as na, np.load(b) as nb:
                keys = set(na.files) - {"signature"}
                if keys != set(nb.files) - {"signature"} or any(not np.array_equal(na[k], nb[k]) for k in keys):
                    problems.append(f"{rel}: arrays differ")
        elif rel.suffix == ".parquet":
            # signatures hold file times, computation_time_s the measuring time: neither is a result
            fa, fb = (pd.read_parquet(f).drop(columns=["signature", "computation_time_s"], errors="ignore")
                      for f in (a, b))
            try:
                pd.testing.assert_frame_equal(fa, fb, check_exact=True)
            except AssertionError as exc:
                problems.append(f"{rel}: {str(exc).splitlines()[0]}")
        elif rel.suffix == ".csv" and rel.name.startswith("traits"):
            fa, fb = (pd.read_csv(f, dtype=str, keep_default_na=False)
                      .drop(columns=["computation_time_s", "Computation.Time.s"], errors="ignore") for f in (a, b))
            if not fa.equals(fb):
                problems.append(f"{rel}: text differs")
        elif a.read_bytes() != b.read_bytes():
            problems.append(f"{rel}: bytes differ")
        compared += 1
    for store in sorted({p.relative_to(old) for p in old.rglob("*.zarr")}):
        if not (new / store).exists():
            continue
        ga, gb = zarr.open_group(old / store, mode="r"), zarr.open_group(new / store, mode="r")
        for path, arr in _arrays(ga):
            other = gb.get(path)
            if other is None or not np.array_equal(arr[:], other[:]) or arr.dtype != other.dtype:
                problems.append(f"{store}/{path}: array differs")
            compared += 1
    print(f"compared {compared} tables, files and arrays")
    return problems


if __name__ == "__main__":
    found = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) if found else "identical")
    sys.exit(1 if found else 0)
