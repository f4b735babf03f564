"""The image/annotation pairs a training run uses: from a pairs CSV (one or several datasets), a
folder of images with same-stem masks, and synthetic campaigns made for it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from rootpipe.learn.annotations import pairs_from_folder, read_pairs


def training_pairs(settings: dict, folder: str | None = None, synthetic: str | None = None,
                   annotation_type: str = "mask", progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Training and validation pairs, and a line saying where they come from (for the checkpoint).

    Parameters
    ----------
    settings : the config's ``train`` section (``pairs``, ``dataset``, ``train_split``,
        ``val_split``, ``seed``, ``synthetic_series``).
    folder : a folder with ``images/`` and same-stem ``masks/``: trained on alone, every
        5th image validating.
    synthetic : a folder to make synthetic training campaigns in (joins ``pairs``).
    """
    tables, notes = {"train": [], "val": []}, []
    if settings["pairs"]:
        csv_pairs, note = _csv_pairs(settings)
        notes.append(note)
        for k in tables:
            tables[k].extend(csv_pairs[k])
    if synthetic:
        seed = settings["seed"]
        for name, campaign in _synthetic_pairs(Path(synthetic), seed, settings["synthetic_series"], progress):
            tables[name].append(campaign)
        notes.append(f"synthetic campaigns (rootpipe.synthetic, seeds {seed + 1}/{seed + 1000})")
    if folder:
        pairs = pairs_from_folder(folder, annotation_type)
        val_pairs = pairs.iloc[::5] if len(pairs) > 1 else pairs.iloc[:0]
        tables = {"train": [pairs.drop(val_pairs.index)], "val": [val_pairs]}
        notes.append(f"{folder} (every 5th image for validation)")
    train, val = (pd.concat(tables[k], ignore_index=True) for k in ("train", "val"))
    return train, val, " + ".join(notes)


def held_out_rows(train_rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of every 8th series (sorted by name): what training holds out to validate a set
    that has no validation split, and so what a benchmark may choose that set's settings on."""
    series = sorted(train_rows["series"].astype(str).unique())[::8]
    return train_rows[train_rows["series"].astype(str).isin(series)]


def _csv_pairs(settings: dict) -> tuple[dict, str]:
    """Rows of the pairs CSV per split, dataset by dataset, and the note naming them."""
    tables = {"train": [], "val": []}
    train_split, val_split = settings["train_split"], settings["val_split"]
    datasets = settings["dataset"].split(",") if settings["dataset"] else [None]
    for dataset in datasets:
        train_rows = read_pairs(settings["pairs"], train_split, dataset)
        val_rows = read_pairs(settings["pairs"], val_split, dataset, allow_empty=True)
        if val_rows.empty and len(datasets) > 1 and "series" in train_rows:
            # a set without a validation split (TILLMore) still counts in the epoch ranking
            val_rows = held_out_rows(train_rows)
            train_rows = train_rows.drop(val_rows.index)
            print(f"train: {dataset} has no {val_split!r} split; {len(val_rows)} image(s) of "
                  f"{val_rows['series'].nunique()} series of its {train_split!r} split validate instead",
                  file=sys.stderr)
        tables["train"].append(train_rows)
        tables["val"].append(val_rows)
    # the file's name, not its path: the header is shown in reports
    note = (f"{Path(settings['pairs']).name}: {(settings['dataset'] or 'every dataset').replace(',', ', ')} "
            f"(splits {train_split}/{val_split})")
    return tables, note


def _synthetic_pairs(out: Path, seed: int, n_series: int, progress: bool):
    """(split, pairs) of synthetic campaigns made in ``out`` (kept and reused when already there)."""
    from rootpipe.synthetic import make_campaign

    for name, campaign_seed, n in (("train", seed + 1, n_series), ("val", seed + 1000, 2)):
        make_campaign(out / name, n_series=n, n_timepoints=3, image_size=(512, 640), seed=campaign_seed,
                      progress=progress, reuse=True)
        truth = pd.read_csv(out / name / "truth" / "lengths.csv")
        yield name, pd.DataFrame({
            "image": [str(out / name / "images" / f) for f in truth["file"]],
            "annotation": [str(out / name / "truth" / f) for f in truth["file"]],
            "annotation_type": "mask", "dataset": "synthetic"})
