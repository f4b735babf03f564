"""The annotation loop: from a campaign's results to annotations and back to a better model.

``export``: the images the model is least sure of, spread over series and dates, written as a
RootPainter project (its segmentations from rootpipe's masks) and as image + mask PNG pairs that
napari's labels layer or any paint program can correct. ``collect``: the corrected annotations
(RootPainter's strokes, or changed masks) as training pairs, some held back. ``import_round``:
fine-tune the campaign's model on them and score it, before and after, on those held back.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe.learn import rootpainter

EXPORT_FILE = "export.json"


RANKS = ("confidence", "doubt")


def choose_images(traits: pd.DataFrame, n: int, exclude=(), rank: str = "confidence") -> pd.DataFrame:
    """Up to ``n`` images to annotate, spread over series and dates.

    ``rank``: ``confidence`` (default) takes the least confident first, whatever their length
    (after a first round those are often images with almost no root: a few undecided specks make
    a low share). ``doubt`` takes first the images with the most root length in doubt,
    (1 - ``segmentation_confidence``) x ``total_length_mm``: the undecided share of what the model
    calls root, times how much root that is (docs/segmentation.md compares the two).
    Spread: the campaign's days, in order, are cut into ``min(n, days)`` periods of about equal
    image counts, and at most ``ceil(n / periods)`` images of a period, ``ceil(n / series)`` of a
    series and one per series and day are taken while others remain; then the first of the rest.
    Without the periods the least confident images of a campaign cluster in its first sessions
    (seedlings, almost no root), and on the soybean loop corrections of those alone taught the
    model to mark roots shorter (docs/segmentation.md). ``exclude``: image_ids already annotated.
    """
    if rank not in RANKS:
        raise ValueError(f"rank {rank!r} is not one of {', '.join(RANKS)}")
    if "segmentation_confidence" not in traits or traits["segmentation_confidence"].isna().all():
        raise ValueError("the traits carry no segmentation_confidence (made by an older rootpipe): run the "
                         "campaign again with this version first")
    pool = traits[~traits["image_id"].isin(set(exclude))].copy()
    if rank == "doubt":
        pool["doubt"] = (1 - pool["segmentation_confidence"]) * pool["total_length_mm"].fillna(0)
        pool = pool.sort_values(["doubt", "image_id"], ascending=[False, True], kind="stable")
    else:
        pool = pool.sort_values(["segmentation_confidence", "image_id"], kind="stable")
    cap = max(1, math.ceil(n / max(1, pool["series"].nunique())))
    day = pd.to_datetime(pool["timestamp"]).dt.date
    period = _periods(day, min(n, day.nunique()))
    period_cap = max(1, math.ceil(n / max(1, period.nunique())))
    taken, per_series, per_period, days = [], {}, {}, set()
    for index, row in pool.iterrows():
        key = (row["series"], day[index])
        if (len(taken) < n and per_series.get(row["series"], 0) < cap and key not in days
                and per_period.get(period[index], 0) < period_cap):
            taken.append(index)
            per_series[row["series"]] = per_series.get(row["series"], 0) + 1
            per_period[period[index]] = per_period.get(period[index], 0) + 1
            days.add(key)
    taken += [i for i in pool.index if i not in taken][: n - len(taken)]
    return pool.loc[taken]


def _periods(day: pd.Series, k: int) -> pd.Series:
    """Each image's period, 0 to ``k - 1``: its day's place in the campaign, by the share of the
    images taken before that day (so a period holds about as many images as another, and a day's
    images share one)."""
    counts = day.value_counts().sort_index()
    before = counts.cumsum() - counts
    of_day = (before * max(1, k) // max(1, len(day))).astype(int)
    return day.map(of_day)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def export(results_dir: str | Path, out: str | Path, n: int = 10, name: str | None = None,
           progress: bool = True, exclude=(), rank: str = "confidence") -> dict:
    """Write the ``n`` images to annotate next (:func:`choose_images`, by ``rank``) into ``out``.

    ``out/rootpainter/``: a RootPainter sync directory (dataset and project, the masks as its
    segmentations); ``out/pairs/images/`` and ``out/pairs/masks/`` (0 background, 255 root: fix
    them in napari or any paint program); ``out/export.json``: what was exported, from which
    model, and each mask's SHA-256 (a changed mask is a correction). Images exported in an
    earlier round into ``out`` are left out, and the new ones join the same project; so are the
    image_ids in ``exclude`` (images kept aside to judge the model on).
    """
    from tqdm import tqdm

    from rootpipe.io.stores import read_image_level, read_mask

    results_dir, out = Path(results_dir), Path(out)
    traits = pd.read_parquet(results_dir / "traits.parquet")
    record_path = out / EXPORT_FILE
    record = json.loads(record_path.read_text()) if record_path.exists() else {"images": []}
    name = name or record.get("name") or results_dir.resolve().parent.name or "campaign"
    picked = choose_images(traits, n, exclude=[*exclude, *(i["image_id"] for i in record["images"])], rank=rank)
    if picked.empty:
        raise ValueError(f"annotate export: no image of {results_dir} left to export: all {len(traits)} are in "
                         f"{out} already or kept aside; import the corrections, or export into a new folder")
    model = _campaign_model(results_dir, picked["batch"].unique())
    sync = out / "rootpainter"
    for row in tqdm(list(picked.itertuples()), desc="annotate export", unit="img", disable=not progress):
        rgb = read_image_level(results_dir / "images" / f"{row.batch}.zarr", row.image_id, 0)
        mask = read_mask(results_dir / "segmentation" / f"{row.batch}.zarr", row.image_id)
        _png(sync / "datasets" / name / f"{row.image_id}.png", rgb)
        _png(sync / "projects" / name / "segmentations" / f"{row.image_id}.png", rootpainter.segmentation_png(mask))
        _png(out / "pairs" / "images" / f"{row.image_id}.png", rgb)
        _png(out / "pairs" / "masks" / f"{row.image_id}.png", (mask > 0).astype(np.uint8) * 255)
        record["images"].append({
            "image_id": row.image_id, "file": row.file, "series": row.series, "timestamp": str(row.timestamp),
            "segmentation_confidence": float(row.segmentation_confidence), "round": record.get("round", 0) + 1,
            "mask_sha256": _sha(out / "pairs" / "masks" / f"{row.image_id}.png")})
    rootpainter.create_project(sync, name, [f"{i['image_id']}.png" for i in record["images"]],
                               model and model.get("file"))
    record.update(name=name, results_dir=str(results_dir.resolve()), model=model, round=record.get("round", 0) + 1)
    record_path.write_text(json.dumps(record, indent=1))
    return record


def _campaign_model(results_dir: Path, batches) -> dict | None:
    """The model that segmented these batches (file, SHA-256), from their stores' attributes."""
    import zarr

    for batch in batches:
        attrs = dict(zarr.open_group(results_dir / "segmentation" / f"{batch}.zarr", mode="r").attrs)
        model = (attrs.get("rootpipe") or {}).get("model")
        settings = (attrs.get("rootpipe") or {}).get("settings") or {}
        if model:
            return {"file": model.get("file"), "sha256": model.get("sha256"), "checkpoint": settings.get("checkpoint")}
    return None


def collect(out: str | Path, holdout: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The corrected annotations of an export folder as (train, held back) pairs.

    RootPainter's annotations (``annotations/train`` and ``annotations/val``: its own split) come
    first; a mask in ``pairs/masks`` counts when it differs from what was exported. Of the masks,
    every ``round(1 / holdout)``-th (in export order) is held back, at least one when there are two.
    """
    out = Path(out)
    record = json.loads((out / EXPORT_FILE).read_text())
    rows, seen = [], set()
    for seg_proj in sorted((out / "rootpainter" / "projects").glob("*/*.seg_proj")):
        for image, annotation, split in rootpainter.annotations(seg_proj):
            rows.append((str(image), str(annotation), "rootpainter", split))
            seen.add(image.stem)
    masks = [i for i in record["images"] if i["image_id"] not in seen
             and (out / "pairs" / "masks" / f"{i['image_id']}.png").exists()
             and _sha(out / "pairs" / "masks" / f"{i['image_id']}.png") != i["mask_sha256"]]
    every = max(2, round(1 / holdout)) if holdout > 0 else 0
    for k, item in enumerate(masks):
        split = "val" if every and len(masks) >= 2 and k % every == every - 1 else "train"
        rows.append((str(out / "pairs" / "images" / f"{item['image_id']}.png"),
                     str(out / "pairs" / "masks" / f"{item['image_id']}.png"), "mask", split))
    if len(masks) >= 2 and every and not any(r[3] == "val" for r in rows):
        rows[-1] = (*rows[-1][:3], "val")
    pairs = pd.DataFrame(rows, columns=["image", "annotation", "annotation_type", "split"])
    if pairs.empty:
        raise ValueError(f"no corrected annotation in {out}: paint over the mistakes in RootPainter (the project in "
                         f"{out / 'rootpainter'}) or fix masks in {out / 'pairs' / 'masks'}, then import again")
    if not (pairs["split"] == "train").any():
        raise ValueError(f"every annotation in {out} is held back (RootPainter's val folder): put some in "
                         "annotations/train")
    return (pairs[pairs["split"] == "train"].drop(columns="split").reset_index(drop=True),
            pairs[pairs["split"] == "val"].drop(columns="split").reset_index(drop=True))


def import_round(out: str | Path, model_out: str | Path, init: str | Path | None = None, steps: int = 100,
                 epochs: int = 5, threads: int = 1, progress: bool = True, lr: float | None = None,
                 **train_options) -> dict:
    """Fine-tune from the campaign's model (``init``: default, the one that made the export) on the
    corrected annotations and score it, before and after, on those held back.

    ``steps`` (per epoch) is for one round's annotations: round k trains ``k x steps`` per epoch, so
    each annotated image is seen as often as in round 1 (with the same steps, round 2's 16 images each
    got half the passes, and on the soybean loop the round gained F1 or length, rarely both;
    docs/segmentation.md). ``lr`` defaults to the training default halved for every round after the first: a later round
    starts from a model already fitted to the campaign, to be refined, not pulled as far again (the
    shipped model's recipe halves it from stage to stage the same way). The loss is the one the
    starting model was trained with: its centre-line recall term (``skeleton_weight``, 0.3 for the
    shipped model) stays unless ``skeleton_weight`` is given, so a fine-tune keeps rewarding root
    length, the phenotype, and not pixel overlap alone.

    Returns the scores: ``before`` and ``after`` (pooled F1, length agreement), the pairs used and
    the checkpoint written (``model_out``).
    """
    from rootpipe.config import load
    from rootpipe.learn.evaluate import evaluate
    from rootpipe.learn.train import train
    from rootpipe.segmentation.checkpoint import read_header
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT

    out = Path(out)
    record = json.loads((out / EXPORT_FILE).read_text())
    train_pairs, held = collect(out)
    if init is None:
        init = ((record.get("model") or {}).get("checkpoint")) or str(DEFAULT_CHECKPOINT)
    round_ = max(1, int(record.get("round", 1)))
    scores = {"train_pairs": len(train_pairs), "held_back": len(held), "init": str(init),
              "steps_per_epoch": steps * round_}
    settings = load({"segment": {"method": "unet", "checkpoint": str(init)}})["segment"]
    if len(held):
        scores["before"] = evaluate(held, settings, threads=threads, progress=False)[1]
    if lr is None:
        from rootpipe.learn.train import DEFAULTS

        lr = DEFAULTS["lr"] * 0.5 ** (round_ - 1)
    scores["lr"] = lr
    if train_options.get("skeleton_weight") is None:
        train_options["skeleton_weight"] = (read_header(init).get("training") or {}).get("skeleton_weight") or 0.0
    scores["skeleton_weight"] = train_options["skeleton_weight"]
    train(train_pairs, held, model_out, init=str(init), steps_per_epoch=steps * round_, epochs=epochs,
          threads=threads, lr=lr, progress=progress, augmentation=train_options.pop("augmentation", "light"),
          notes={"data": f"annotation round {record.get('round')} of {record.get('name')}"}, **train_options)
    if len(held):
        scores["after"] = evaluate(held, {**settings, "checkpoint": str(model_out)}, threads=threads,
                                   progress=False)[1]
    scores["checkpoint"] = str(model_out)
    (out / f"import-round-{record.get('round')}.json").write_text(json.dumps(scores, indent=1, default=float))
    return scores


def open_in_napari(viewer, out: str | Path, image_id: str | None = None):
    """Add an exported pair to a napari viewer: the image, and its mask as an editable labels layer.

    Returns the labels layer; :func:`save_labels` writes it back to ``pairs/masks``.
    """
    from PIL import Image

    out = Path(out)
    record = json.loads((out / EXPORT_FILE).read_text())
    image_id = image_id or record["images"][0]["image_id"]
    rgb = np.asarray(Image.open(out / "pairs" / "images" / f"{image_id}.png"))
    mask = np.asarray(Image.open(out / "pairs" / "masks" / f"{image_id}.png")) > 127
    viewer.add_image(rgb, name=image_id, rgb=True)
    return viewer.add_labels(mask.astype(np.uint8), name=f"{image_id} mask")


def save_labels(labels_layer, out: str | Path, image_id: str) -> Path:
    """Write a labels layer (root = any label) back as the pair's mask (0/255 PNG)."""
    path = Path(out) / "pairs" / "masks" / f"{image_id}.png"
    _png(path, (np.asarray(labels_layer.data) > 0).astype(np.uint8) * 255)
    return path
