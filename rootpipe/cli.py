"""The ``rootpipe`` command: one subcommand per stage, plus ``run`` and ``demo``.

Each stage subcommand parses arguments and calls the library; Snakemake rules
call these same subcommands, so a stage behaves the same by hand and in a run.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

PROFILES = ("local", "slurm")


def _config(arg):
    from . import config

    if arg is None and Path("config/config.yaml").exists():
        arg = "config/config.yaml"
    settings = config.load(arg)
    if arg is not None and not arg.lstrip().startswith("{"):
        # A campaign's config file given by hand gets the checks `rootpipe run` makes at its start
        # (the workflow passes each rule its slice as inline JSON).
        config.check_campaign(config.read_yaml(arg))
    return settings


def _add_common(p: argparse.ArgumentParser, threads: bool = True, config: bool = True,
                quiet: bool = True) -> None:
    if config:
        p.add_argument("--config", help="config YAML file or inline JSON (default: config/config.yaml "
                                        "if present, else the schema's defaults)")
    if threads:
        p.add_argument("--threads", type=int, default=1, help="cores to use (default 1)")
    if quiet:
        p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_demo(a) -> None:
    from .synthetic import make_campaign

    truth = make_campaign(a.out_dir, n_series=a.series, n_timepoints=a.timepoints,
                          image_size=(a.height, a.width), seed=a.seed, progress=not a.quiet)
    print(f"demo: {len(truth)} images of {a.series} series x {a.timepoints} timepoints in "
          f"{Path(a.out_dir) / 'images'}; truth in {Path(a.out_dir) / 'truth'}")


def cmd_ingest(a) -> None:
    from . import ingest

    ingest.run(_config(a.config), threads=a.threads, progress=not a.quiet)


def cmd_tile(a) -> None:
    from .config import pixel_size_mm
    from .ingest import read_batch
    from .tile import tile_batch

    cfg = _config(a.config)
    tile_batch(read_batch(a.batch), a.out, cfg["tile"]["chunk_px"], cfg["tile"]["levels"],
               pixel_size_mm(cfg), threads=a.threads, progress=not a.quiet, bit_depth=cfg.get("bit_depth"))


def cmd_segment(a) -> None:
    from .segment import segment_batch

    segment_batch(a.images, a.out, _config(a.config)["segment"], threads=a.threads, progress=not a.quiet)


def cmd_traits(a) -> None:
    from .config import pixel_size_mm
    from .measure import measure_batch

    cfg = _config(a.config)
    measure_batch(a.segmentation, a.out, pixel_size_mm(cfg), cfg["traits"], threads=a.threads,
                  progress=not a.quiet, branches_out=a.branches, rsml_dir=a.rsml, border_px=cfg["border_px"])


def cmd_collect(a) -> None:
    from .collect import run

    run(a.manifest, a.traits, a.out)


def cmd_track(a) -> None:
    from .track import run

    run(a.traits, a.out, _config(a.config), threads=a.threads, progress=not a.quiet,
        roots_out=a.roots, summary_out=a.summary)


def cmd_report(a) -> None:
    from .report import run

    run(a.manifest, a.traits, a.growth, a.out, _config(a.config))


def _pairs(a):
    from .annotations import pairs_from_folder, read_pairs

    if a.pairs:
        return read_pairs(a.pairs, a.split, a.dataset)
    if a.split or a.dataset:
        raise ValueError("--split and --dataset select rows of a --pairs CSV; --folder has neither")
    return pairs_from_folder(a.folder, a.annotation_type)


def cmd_train(a) -> None:
    import pandas as pd

    from .annotations import pairs_from_folder, read_pairs
    from .train import DEFAULT_MODEL, train

    if a.init and a.encoder:
        print(f"train: --encoder {a.encoder} ignored: the network is the --init checkpoint's", file=sys.stderr)
    if not (a.pairs or a.folder or a.synthetic):
        raise ValueError("train: give the training images: --pairs CSV, --folder F or --synthetic DIR")
    if a.folder and (a.pairs or a.synthetic):
        raise ValueError("train: --folder trains on that folder alone; --pairs and --synthetic combine")
    tables, notes = {"train": [], "val": []}, []
    if a.pairs:
        datasets = a.dataset.split(",") if a.dataset else [None]
        for dataset in datasets:
            train_rows = read_pairs(a.pairs, a.train_split, dataset)
            val_rows = read_pairs(a.pairs, a.val_split, dataset, allow_empty=True)
            if val_rows.empty and len(datasets) > 1 and "series" in train_rows:
                # a set without a validation split (TILLMore) still counts in the epoch ranking:
                # every 8th of its series is held out of training for it
                series = sorted(train_rows["series"].astype(str).unique())[::8]
                val_rows = train_rows[train_rows["series"].astype(str).isin(series)]
                train_rows = train_rows.drop(val_rows.index)
                print(f"train: {dataset} has no {a.val_split!r} split; {len(val_rows)} image(s) of "
                      f"{len(series)} series of its {a.train_split!r} split validate instead", file=sys.stderr)
            tables["train"].append(train_rows)
            tables["val"].append(val_rows)
        # the file's name, not its path: the header is shown in reports
        notes.append(f"{Path(a.pairs).name}: {(a.dataset or 'every dataset').replace(',', ', ')} "
                     f"(splits {a.train_split}/{a.val_split})")
    if a.synthetic:
        from .synthetic import make_campaign

        out = Path(a.synthetic)
        for name, seed, n in (("train", a.seed + 1, a.synthetic_series), ("val", a.seed + 1000, 2)):
            make_campaign(out / name, n_series=n, n_timepoints=3, image_size=(512, 640), seed=seed,
                          progress=not a.quiet, reuse=True)
            truth = pd.read_csv(out / name / "truth" / "lengths.csv")
            tables[name].append(pd.DataFrame({
                "image": [str(out / name / "images" / f) for f in truth["file"]],
                "annotation": [str(out / name / "truth" / f) for f in truth["file"]],
                "annotation_type": "mask", "dataset": "synthetic"}))
        notes.append(f"synthetic campaigns (rootpipe.synthetic, seeds {a.seed + 1}/{a.seed + 1000})")
    if a.folder:
        pairs = pairs_from_folder(a.folder, a.annotation_type)
        val_pairs = pairs.iloc[::5] if len(pairs) > 1 else pairs.iloc[:0]
        tables = {"train": [pairs.drop(val_pairs.index)], "val": [val_pairs]}
        notes.append(f"{a.folder} (every 5th image for validation)")
    train_pairs, val_pairs = (pd.concat(tables[k], ignore_index=True) for k in ("train", "val"))
    notes = {"data": " + ".join(notes)}
    if a.licence:
        notes["licence"] = a.licence
    existed = Path(a.out).exists()
    try:
        header = train(train_pairs, val_pairs, a.out, init=a.init,
                       encoder=a.encoder or DEFAULT_MODEL["encoder"], epochs=a.epochs, steps_per_epoch=a.steps,
                       batch=a.batch, tile=a.tile, lr=a.lr, seed=a.seed, device=a.device, threads=a.threads,
                       rsml_width_px=a.rsml_width_px, root_fraction=a.root_fraction,
                       augmentation=a.augmentation, skeleton_weight=a.skeleton_weight, progress=not a.quiet,
                       notes=notes, bit_depth=a.bit_depth, centreline_band_px=a.centreline_band_px,
                       lab_fraction=a.lab_fraction, synthetic_share=a.synthetic_share,
                       pixel_size_mm=a.pixel_size_mm or (0.05 if a.synthetic and not a.pairs else None))
    except KeyboardInterrupt:
        if Path(a.out).exists() and not existed:
            print(f"train: interrupted; {a.out} holds the best epoch finished so far", file=sys.stderr)
        raise
    f1 = header["scores"]["validation"].get("f1", float("nan"))
    kept = "last epoch's checkpoint (no validation)" if math.isnan(f1) else "best checkpoint"
    print(f"train: {kept} {a.out}: {header['scores']}")


def cmd_evaluate(a) -> None:
    from .atomic import atomic_path
    from .evaluate import evaluate
    from .segment import DEFAULT_CHECKPOINT

    if a.method == "classical" and a.checkpoint:
        raise ValueError("--checkpoint is for the U-Net; --method classical uses none")
    if a.out and Path(a.out).is_dir():  # before the inference, not after
        raise ValueError(f"--out {a.out} is a folder; give the CSV's file name")
    cfg = _config(a.config)
    settings = cfg["segment"]
    # The flags win; without them the config's segment method and checkpoint (the shipped model
    # when it names none), so a campaign's own model is what gets scored.
    if a.method == "classical" or (a.method is None and not a.checkpoint and settings["method"] == "classical"):
        settings["method"] = "classical"
        print("evaluate: method classical", file=sys.stderr)
    else:
        settings.update(method="unet", checkpoint=a.checkpoint or settings.get("checkpoint") or str(DEFAULT_CHECKPOINT))
        print(f"evaluate: model {settings['checkpoint']}", file=sys.stderr)
    pairs = _pairs(a)
    if a.pairs and not a.split and "split" in pairs and pairs["split"].nunique() > 1:
        print(f"evaluate: scoring every split ({', '.join(sorted(pairs['split'].astype(str).unique()))}); "
              "--split test scores the held-out images only", file=sys.stderr)
    per_image, summary = evaluate(pairs, settings, threads=a.threads, progress=not a.quiet,
                                  bit_depth=cfg.get("bit_depth"))
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    if a.out:
        with atomic_path(a.out) as tmp:
            per_image.to_csv(tmp, index=False)
        print(f"evaluate: per-image scores in {a.out}")


def cmd_run(a, extra: list[str]) -> int:
    from .run import run_workflow

    return run_workflow(a.profile, a.configfile, extra)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rootpipe", description=__doc__.splitlines()[0])
    from . import __version__

    top.add_argument("--version", action="version", version=f"rootpipe {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    # No abbreviations: `--config key=value` is Snakemake's, not a short `--configfile`.
    p = sub.add_parser("run", help="run the whole workflow with Snakemake (extra arguments go to snakemake)",
                       description="Run the whole workflow with Snakemake; arguments rootpipe does not know "
                                   "go to snakemake (e.g. -n, --cores 4, --until ingest).", allow_abbrev=False)
    p.add_argument("--profile", choices=PROFILES, default="local", help="where jobs run (default local)")
    p.add_argument("--configfile", help="campaign config (default config/config.yaml)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="write a synthetic demo campaign with ground truth")
    p.add_argument("out_dir")
    p.add_argument("--series", type=int, default=6)
    p.add_argument("--timepoints", type=int, default=4)
    p.add_argument("--height", type=int, default=768)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a U-Net on annotated images")
    src = p.add_argument_group("training images (--pairs and --synthetic combine: a generalist model)")
    src.add_argument("--pairs", help="CSV with image, annotation, annotation_type, split")
    src.add_argument("--folder", help="folder with images/ and same-stem masks/")
    src.add_argument("--synthetic", help="generate synthetic training campaigns in this folder")
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--licence", help="licence of the weights (that of the strictest training set), "
                                     "recorded in the checkpoint's header")
    p.add_argument("--lab-fraction", type=float, default=1.0,
                   help="with --augmentation lab: share of tiles given the lab jitter, the rest light (default 1)")
    p.add_argument("--synthetic-share", type=float,
                   help="with --pairs and --synthetic: share of training tiles from the synthetic campaigns "
                        "(default: an equal share with each real set)")
    p.add_argument("--centreline-band-px", type=int, default=0,
                   help="around RSML centre-line annotations, leave this many px unlabelled: a polyline "
                        "gives no root width (default 0: off)")
    p.add_argument("--init", help="checkpoint to fine-tune or go on training from (--out must be another file)")
    p.add_argument("--dataset", help="only rows of this dataset (pairs CSV); several, comma-separated, are "
                                     "sampled equally")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--annotation-type", default="mask", help="for --folder: mask, rootpainter, ...")
    p.add_argument("--synthetic-series", type=int, default=8)
    p.add_argument("--encoder", help="smp encoder of a new network (default mobilenet_v2, the shipped model's)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps", type=int, default=50, help="steps per epoch")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--rsml-width-px", type=float, default=4.0)
    p.add_argument("--pixel-size-mm", type=float,
                   help="mm per pixel of the training images, recorded in the checkpoint so a campaign at "
                        "another scale is warned (default: the --init checkpoint's; 0.05 for --synthetic)")
    p.add_argument("--bit-depth", type=int,
                   help="camera bits of 16-bit images, as the campaign config's bit_depth")
    p.add_argument("--root-fraction", type=float, default=0.5,
                   help="share of training tiles placed over an annotated root (default 0.5)")
    p.add_argument("--augmentation", choices=("full", "light", "lab"), default="full",
                   help="full: scale, colour, blur and noise jitter (varied imaging); light: flips, "
                        "rotations and mild brightness only (fine-tuning on one imaging setup); lab: "
                        "scale 0.5-2x, colour, grey, blur, JPEG, uneven light, condensation, soil texture "
                        "(a generalist over many labs)")
    p.add_argument("--skeleton-weight", type=float, default=0.0,
                   help="weight of a centre-line recall term beside BCE + Dice: misses along a root's "
                        "centre-line cost by length, not area (default 0: off)")
    _add_common(p, config=False)  # training reads no campaign config
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="scores and length agreement against annotations")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", help="CSV with image, annotation, annotation_type, split")
    src.add_argument("--folder", help="folder with images/ and same-stem masks/")
    p.add_argument("--split")
    p.add_argument("--dataset", help="only rows of this dataset (pairs CSV)")
    p.add_argument("--annotation-type", default="mask")
    p.add_argument("--checkpoint", help="rootpipe checkpoint (default: the config's segment.checkpoint, else the shipped model)")
    p.add_argument("--method", choices=["classical", "unet"], help="default: the config's segment.method")
    p.add_argument("--out", help="per-image CSV")
    _add_common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("ingest", help="find, check and batch the campaign's images")
    _add_common(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("tile", help="one batch's images into an OME-Zarr store")
    p.add_argument("batch", help="batch list file (results/batches/BATCH.tsv)")
    p.add_argument("out", help="output store (results/images/BATCH.zarr)")
    _add_common(p)
    p.set_defaults(func=cmd_tile)

    p = sub.add_parser("segment", help="root probability and mask for one batch")
    p.add_argument("images", help="image store (results/images/BATCH.zarr)")
    p.add_argument("out", help="output store (results/segmentation/BATCH.zarr)")
    _add_common(p)
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("traits", help="root traits of one batch's masks")
    p.add_argument("segmentation", help="segmentation store (results/segmentation/BATCH.zarr)")
    p.add_argument("out", help="output table (results/traits/BATCH.parquet)")
    p.add_argument("--branches", help="also write one row per skeleton branch to this parquet")
    p.add_argument("--rsml", help="also write one RSML file per image into this folder")
    _add_common(p)
    p.set_defaults(func=cmd_traits)

    p = sub.add_parser("collect", help="join every batch's traits with the manifest")
    p.add_argument("manifest")
    p.add_argument("traits", nargs="*")
    p.add_argument("--out", required=True, help="traits.parquet (traits.csv and traits_rve.csv are written beside it)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("track", help="growth per series over time")
    p.add_argument("traits", help="collected traits.parquet")
    p.add_argument("out", help="growth.parquet")
    p.add_argument("--roots", help="per-root table (default: roots.parquet beside OUT)")
    p.add_argument("--summary", help="per-group table (default: growth_summary.parquet beside OUT)")
    _add_common(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("report", help="self-contained HTML report")
    p.add_argument("manifest")
    p.add_argument("traits")
    p.add_argument("growth")
    p.add_argument("out")
    _add_common(p, threads=False, quiet=False)  # no progress bar to silence
    p.set_defaults(func=cmd_report)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parser().parse_known_args(argv)
    if args.command != "run" and extra:
        parser().error(f"unrecognised arguments: {' '.join(extra)}")
    try:
        if args.command == "run":  # its exit status is Snakemake's
            return args.func(args, extra)
        args.func(args)
    except (OSError, ValueError) as exc:
        print(f"rootpipe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rootpipe {args.command}: interrupted; outputs are written whole or not at all, so every "
              "file it finished is complete", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
