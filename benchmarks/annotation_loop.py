"""The annotation loop end to end on real images: export, correct, import, re-run, twice.

Run by hand: ``python benchmarks/annotation_loop.py DATA [--rounds 2] [-n 8] [--out build/annotation-loop]``.
DATA is the folder of annotated images with its pairs.csv. The campaign is the SegRoot soybean
minirhizotron set (a crop and camera the shipped model never saw): its train-split images are the
campaign's images to annotate; its test and val splits are campaign images too but never exported:
they are the images the rounds are judged on, from the campaign's own masks after each re-run.

Each round: ``rootpipe run`` (the campaign, with the current model), ``annotate.export`` of the n least
confident images, their "corrections" written from the experts' masks in the exported formats (half as
corrected dense masks in pairs/masks, half as RootPainter strokes painted over the model's mistakes:
red along missed roots, green over false roots and a few background spots), ``annotate.import_round``
(fine-tune from the current model), then the next round runs the campaign with the new model.
Prints and writes (``--json``) the judged images' pooled F1 and length agreement after every run,
and at the end each round's model scored on every image no round exported (``never_exported_*``;
``--rejudge`` does only that, for an earlier run in ``--out``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rootpipe.learn import annotate, rootpainter  # noqa: E402
from rootpipe.learn.annotations import load_labels  # noqa: E402
from rootpipe.learn.evaluate import length_agreement  # noqa: E402
from rootpipe.learn.metrics import pool, scores  # noqa: E402


def campaign(data: Path, work: Path) -> tuple[Path, pd.DataFrame]:
    """A campaign folder of the soybean images (links) and its config; the pairs with each image's file."""
    pairs = pd.read_csv(data / "pairs.csv")
    pairs = pairs[pairs["dataset"] == "segroot_soybean"].copy()
    images = work / "images"
    images.mkdir(parents=True, exist_ok=True)
    for path in pairs["image"]:
        link = images / Path(path).name
        if not link.exists():
            link.symlink_to((data / path).resolve())
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config.update(input_dir=str(images), results_dir=str(work / "results"), metadata_csv=None,
                  filename_pattern=r"_(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d\d\.\d\d\.\d\d)_",
                  series_fields=["tube", "window"], timestamp_fields=["date"], timestamp_format="%d.%m.%y",
                  pixel_size_mm=0.05)
    config["segment"] = {**(config.get("segment") or {}), "checkpoint": None}
    (work / "campaign.yaml").write_text(yaml.safe_dump(config))
    pairs["file"] = pairs["image"].map(lambda p: Path(p).name)
    return work / "campaign.yaml", pairs


def run_campaign(configfile: Path, checkpoint: str | None) -> float:
    config = yaml.safe_load(configfile.read_text())
    config["segment"]["checkpoint"] = checkpoint
    configfile.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "rootpipe"), "run", "--configfile", str(configfile),
                           "--cores", "2"], cwd=configfile.parent, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"rootpipe run failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def judge(results: Path, data: Path, judged: pd.DataFrame) -> dict:
    """Pooled F1 and length agreement of the campaign's masks on the judged images."""
    from rootpipe.io.stores import read_mask
    from rootpipe.traits import measure

    traits = pd.read_parquet(results / "traits.parquet").set_index("file")
    counts, predicted, annotated = [], [], []
    for row in judged.itertuples():
        image = traits.loc[row.file]
        mask = read_mask(results / "segmentation" / f"{image['batch']}.zarr", image["image_id"]) > 0
        labels = load_labels(data / row.annotation, row.annotation_type, mask.shape)
        truth = labels == 1
        counts.append(scores(mask, labels))
        predicted.append(measure(mask, 1.0)["total_length_mm"])
        annotated.append(measure(truth, 1.0)["total_length_mm"])
    pooled = pool(counts)
    return {"f1": pooled["f1"], "precision": pooled["precision"], "recall": pooled["recall"],
            **length_agreement(np.array(predicted), np.array(annotated)), "n_images": len(judged)}


def judge_unexported(out: Path, data: Path, checkpoints: list, threads: int) -> list[dict]:
    """Each round's model scored (``rootpipe evaluate``) on every image of the campaign that no round
    exported: 34 of the 50 soybean images, not the 9 of the test and val splits alone, so one image
    moves a length R² far less."""
    from rootpipe import config as cfg
    from rootpipe.learn.annotations import read_pairs
    from rootpipe.learn.evaluate import evaluate
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT

    exported = {i["file"] for i in json.loads((out / "annotations" / annotate.EXPORT_FILE).read_text())["images"]}
    pairs = read_pairs(data / "pairs.csv", dataset="segroot_soybean")
    keep = pairs[~pairs["image"].map(lambda p: Path(p).name).isin(exported)]
    scored = []
    for checkpoint in checkpoints:
        settings = cfg.load({"segment": {"method": "unet", "checkpoint": checkpoint or str(DEFAULT_CHECKPOINT)}})
        summary = evaluate(keep, settings["segment"], threads=threads, progress=False)[1]
        scored.append({"never_exported_" + k.removeprefix("pooled_"): summary[k] for k in
                       ("pooled_f1", "length_r2", "length_r2_identity", "length_slope", "n_images")})
    return scored


def strokes(predicted: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A RootPainter annotation a person might paint: red along the roots the model missed, green over
    what it took for root and on a few background spots."""
    from skimage.morphology import skeletonize

    disk = lambda r: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))  # noqa: E731
    missed = truth & ~predicted
    along = skeletonize(truth) & (cv2.dilate(missed.astype(np.uint8), disk(3)) > 0)
    red = (cv2.dilate(along.astype(np.uint8), disk(2)) > 0) & truth
    green = predicted & ~(cv2.dilate(truth.astype(np.uint8), disk(2)) > 0)
    far = ~(cv2.dilate(truth.astype(np.uint8), disk(10)) > 0)
    spots = np.zeros(truth.shape, np.uint8)
    ys, xs = np.nonzero(far)
    for k in rng.choice(len(ys), size=min(25, len(ys)), replace=False) if len(ys) else []:
        cv2.circle(spots, (int(xs[k]), int(ys[k])), 12, 1, -1)
    green |= (spots > 0) & far
    return rootpainter.annotation_png(red, green & ~red)


def correct(out: Path, record: dict, data: Path, pairs: pd.DataFrame, round_: int, rng) -> dict:
    """Write the experts' masks as corrections of this round's exported images: even ones as dense
    masks, odd ones as RootPainter strokes (every fourth of those in RootPainter's val folder)."""
    by_file = pairs.set_index("file")
    new = [i for i in record["images"] if i["round"] == round_]
    kinds = {"dense": 0, "strokes": 0}
    project = out / "rootpainter" / "projects" / record["name"]
    for k, item in enumerate(new):
        row = by_file.loc[item["file"]]
        exported = np.asarray(Image.open(out / "pairs" / "masks" / f"{item['image_id']}.png")) > 0
        truth = load_labels(data / row["annotation"], row["annotation_type"], exported.shape) == 1
        if k % 2 == 0:
            Image.fromarray(truth.astype(np.uint8) * 255).save(out / "pairs" / "masks" / f"{item['image_id']}.png")
            kinds["dense"] += 1
        else:
            split = "val" if kinds["strokes"] % 4 == 3 else "train"
            Image.fromarray(strokes(exported, truth, rng)).save(project / "annotations" / split
                                                                / f"{item['image_id']}.png")
            kinds["strokes"] += 1
    return kinds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "annotation-loop")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="of the painted strokes and of each fine-tune (a replicate)")
    ap.add_argument("--skeleton-weight", type=float,
                    help="of each fine-tune's centre-line term (default: the starting model's)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--rejudge", action="store_true",
                    help="only score the rounds' models of an earlier run in --out on the images never exported")
    ap.add_argument("--rank", choices=annotate.RANKS, default="confidence", help="which images export takes first")
    a = ap.parse_args()
    a.out = a.out.resolve()
    a.out.mkdir(parents=True, exist_ok=True)
    configfile, pairs = campaign(a.data.resolve(), a.out)
    judged = pairs[pairs["split"].isin(["test", "val"])]
    results = a.out / "results"
    rng = np.random.default_rng(a.seed)
    checkpoint, rows = None, []
    if a.rejudge:
        checkpoints = [None] + [str(a.out / f"round-{k}.safetensors") for k in range(1, a.rounds + 1)]
        for k, row in enumerate(judge_unexported(a.out, a.data.resolve(), checkpoints, a.threads)):
            print(json.dumps({"round": k, **row}, default=float), flush=True)
        return
    for round_ in range(a.rounds + 1):
        seconds = run_campaign(configfile, checkpoint)
        row = {"round": round_, "checkpoint": checkpoint or "shipped", "run_s": seconds,
               **judge(results, a.data, judged)}
        if round_ < a.rounds:
            traits = pd.read_parquet(results / "traits.parquet")
            keep_aside = traits.loc[traits["file"].isin(judged["file"]), "image_id"].tolist()
            record = annotate.export(results, a.out / "annotations", a.n, name="soybean", progress=False,
                                     exclude=keep_aside, rank=a.rank)
            row["corrected"] = correct(a.out / "annotations", record, a.data, pairs, record["round"], rng)
            start = time.perf_counter()
            model = a.out / f"round-{record['round']}.safetensors"
            imported = annotate.import_round(a.out / "annotations", model, init=checkpoint, steps=a.steps,
                                             epochs=a.epochs, threads=a.threads, progress=False, seed=a.seed,
                                             skeleton_weight=a.skeleton_weight)
            row.update(train_s=time.perf_counter() - start, held_back=imported["held_back"],
                       trained_on=imported["train_pairs"],
                       held_back_f1_before=imported.get("before", {}).get("pooled_f1"),
                       held_back_f1_after=imported.get("after", {}).get("pooled_f1"))
            checkpoint = str(model)
        rows.append(row)
        print(json.dumps(row, default=float), flush=True)
    for row, scored in zip(rows, judge_unexported(a.out, a.data.resolve(),
                                                  [None if r["checkpoint"] == "shipped" else r["checkpoint"]
                                                   for r in rows], a.threads)):
        row.update(scored)
        print(json.dumps({"round": row["round"], **scored}, default=float), flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
