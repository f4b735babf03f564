"""Collect: every batch's traits joined with the manifest's metadata."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from rootpipe.io.atomic import write_table


def join_traits(manifest: pd.DataFrame, traits: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per accepted image: manifest metadata, then traits.

    Images with no traits row yet (a batch not measured) are left out, and
    traits rows whose image is no longer in the manifest are dropped.
    """
    accepted = manifest[manifest["status"] == "accepted"].drop(columns=["status", "reason"])
    measured = pd.concat(traits, ignore_index=True) if traits else pd.DataFrame({"image_id": []})
    table = accepted.merge(measured, on="image_id", how="inner")
    return table.sort_values(["series", "timestamp", "image_id"], ignore_index=True)


def write_tables(table: pd.DataFrame, parquet_path: str | Path, config: dict | None = None) -> Path:
    """Write ``traits.parquet``, the same table as CSV, and a RhizoVision Explorer CSV beside it.

    The RVE table (``traits_rve.csv``) uses RVE's column names and units (``rve_mode``'s feature
    set), so analysis scripts written for RVE read rootpipe's results; with ``config``, RVE's
    ``metadata.csv`` of the settings goes beside it (``traits_rve_metadata.csv``).
    """
    from rootpipe import __version__
    from rootpipe.config import pixel_size_mm
    from rootpipe.io.rve import write_rve_csv, write_rve_metadata

    parquet_path = Path(parquet_path)
    rve = parquet_path.with_name(parquet_path.stem + "_rve.csv")
    mode = (config or {}).get("rve_mode", "broken")
    write_rve_csv(table, rve, mode=mode)
    if config is not None:
        write_rve_metadata(rve.with_name(rve.stem + "_metadata.csv"), mode=mode, pixel_size_mm=pixel_size_mm(config),
                           diameter_classes_mm=config["traits"]["diameter_classes_mm"], version=__version__,
                           features_file=rve.name)
    # The measuring time is RVE's Computation.Time.s only: it changes from run to run, and
    # traits.parquet stays the same table for the same images and settings.
    return write_table(table.drop(columns=["computation_time_s"], errors="ignore"), parquet_path)


def run(manifest_path: str | Path, traits_paths, out: str | Path, config: dict | None = None) -> pd.DataFrame:
    manifest = pd.read_parquet(manifest_path)
    table = join_traits(manifest, [pd.read_parquet(p) for p in traits_paths])
    csv_path = write_tables(table, out, config)
    print(f"collect: {len(table)} images -> {out}, {csv_path}")
    return table
