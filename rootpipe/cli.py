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
    from rootpipe import config

    if arg is None and Path("config/config.yaml").exists():
        arg = "config/config.yaml"
    settings = config.load(arg)
    if arg is not None and not arg.lstrip().startswith("{"):
        # A campaign's config file given by hand gets the checks `rootpipe run` makes at its start
        # (the workflow passes each rule its slice as inline JSON).
        config.check_campaign(config.read_yaml(arg))
    return settings


#: `rootpipe train` flags named otherwise than their train.<key> (the rest: --key-with-dashes)
TRAIN_FLAG_NAMES = {"tile_px": "--tile"}
_JSON_TYPES = {"integer": int, "number": float, "string": str}


def _train_keys() -> dict:
    """The config schema's train keys that are also `rootpipe train` flags: {key: schema}."""
    from rootpipe.config import load_schema

    keys = load_schema()["properties"]["train"]["properties"]
    return {k: v for k, v in keys.items() if k != "pairs"}  # --pairs is among the image sources


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per train key, its help the schema's description: no defaults here (one source)."""
    for key, spec in _train_keys().items():
        kinds = [t for t in (spec["type"] if isinstance(spec["type"], list) else [spec["type"]]) if t != "null"]
        kind = ({"action": argparse.BooleanOptionalAction} if kinds[0] == "boolean"
                else {"type": _JSON_TYPES[kinds[0]]})
        p.add_argument(TRAIN_FLAG_NAMES.get(key, "--" + key.replace("_", "-")), dest=key, **kind,
                       help=f"{spec['description']} (train.{key}, default {spec['default']})".replace("%", "%%"))


def _train_settings(a) -> dict:
    """The config's train section with the flags given on the command line put over it."""
    settings = _config(a.config)
    train = dict(settings["train"])
    for key in _train_keys():
        if getattr(a, key) is not None:
            train[key] = getattr(a, key)
    from rootpipe import config

    train = config.validate({**settings, "train": train})["train"]  # the flags meet the schema's checks
    train["pairs"] = a.pairs or (None if (a.folder or a.synthetic) else train["pairs"])
    train["bit_depth"] = a.bit_depth if a.bit_depth is not None else settings.get("bit_depth")
    return train


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
    from rootpipe.synthetic import make_campaign

    truth = make_campaign(a.out_dir, n_series=a.series, n_timepoints=a.timepoints,
                          image_size=(a.height, a.width), seed=a.seed, progress=not a.quiet)
    print(f"demo: {len(truth)} images of {a.series} series x {a.timepoints} timepoints in "
          f"{Path(a.out_dir) / 'images'}; truth in {Path(a.out_dir) / 'truth'}")


def cmd_ingest(a) -> None:
    from rootpipe.stages import ingest

    ingest.run(_config(a.config), threads=a.threads, progress=not a.quiet)


def cmd_tile(a) -> None:
    from rootpipe.config import pixel_size_mm
    from rootpipe.stages.ingest import read_batch
    from rootpipe.stages.tile import run as tile_batch

    cfg = _config(a.config)
    tile_batch(read_batch(a.batch), a.out, cfg["tile"]["chunk_px"], cfg["tile"]["levels"],
               pixel_size_mm(cfg), threads=a.threads, progress=not a.quiet, bit_depth=cfg.get("bit_depth"))


def cmd_segment(a) -> None:
    from rootpipe.stages.segment import run as segment_batch

    segment_batch(a.images, a.out, _config(a.config)["segment"], threads=a.threads, progress=not a.quiet)


def cmd_traits(a) -> None:
    from rootpipe.config import pixel_size_mm
    from rootpipe.stages.traits import run as measure_batch

    cfg = _config(a.config)
    measure_batch(a.segmentation, a.out, pixel_size_mm(cfg), cfg["traits"], threads=a.threads,
                  progress=not a.quiet, branches_out=a.branches, rsml_dir=a.rsml, border_px=cfg["border_px"])


def cmd_collect(a) -> None:
    from rootpipe.stages.collect import run

    run(a.manifest, a.traits, a.out, _config(a.config))


def cmd_track(a) -> None:
    from rootpipe.stages.track import run

    run(a.traits, a.out, _config(a.config), threads=a.threads, progress=not a.quiet,
        roots_out=a.roots, summary_out=a.summary)


def cmd_view(a) -> None:
    from rootpipe.view import view

    view(_config(a.config)["results_dir"], a.image_id)


def cmd_annotate(a) -> None:
    from rootpipe.learn import annotate

    if a.action == "export":
        results = a.results or _config(a.config)["results_dir"]
        record = annotate.export(results, a.folder, a.n, progress=not a.quiet, rank=a.rank)
        new = [i for i in record["images"] if i["round"] == record["round"]]
        print(f"annotate: {len(new)} images to correct (round {record['round']}) in {a.folder}: open the RootPainter "
              f"project {Path(a.folder) / 'rootpainter' / 'projects' / record['name']} (sync directory "
              f"{Path(a.folder) / 'rootpainter'}) and paint over the mistakes, or fix the masks in "
              f"{Path(a.folder) / 'pairs' / 'masks'} (`rootpipe annotate open {a.folder}` opens them in napari); "
              f"then `rootpipe annotate import {a.folder} --out MODEL.safetensors`")
    elif a.action == "import":
        if not a.out:
            raise ValueError("annotate import: give --out MODEL.safetensors, the fine-tuned model to write")
        scores = annotate.import_round(a.folder, a.out, init=a.init, steps=a.steps, epochs=a.epochs,
                                       threads=a.threads, progress=not a.quiet)
        for when in ("before", "after"):
            if when in scores:
                s = scores[when]
                print(f"annotate: held-back annotations, {when}: pooled F1 {s['pooled_f1']:.3f}, length R² about 1:1 "
                      f"{s['length_r2_identity']:.3f}")
        print(f"annotate: wrote {a.out}; set segment.checkpoint: {a.out} in the config and run again")
    else:
        from rootpipe.view import open_annotations

        open_annotations(a.folder, a.image_id)


def cmd_report(a) -> None:
    from rootpipe.stages.report import run

    run(a.manifest, a.traits, a.growth, a.out, _config(a.config), a.figures)


def _pairs(a):
    from rootpipe.learn.annotations import pairs_from_folder, read_pairs

    if a.pairs:
        return read_pairs(a.pairs, a.split, a.dataset)
    if a.split or a.dataset:
        raise ValueError("--split and --dataset select rows of a --pairs CSV; --folder has neither")
    return pairs_from_folder(a.folder, a.annotation_type)


def cmd_train(a) -> None:
    from rootpipe.learn.pairs import training_pairs
    from rootpipe.learn.train import DEFAULT_MODEL, train

    t = _train_settings(a)
    if t["init"] and t["encoder"]:
        print(f"train: --encoder {t['encoder']} ignored: the network is the --init checkpoint's", file=sys.stderr)
    if not (t["pairs"] or a.folder or a.synthetic):
        raise ValueError("train: give the training images: --pairs CSV (or train.pairs in the config), "
                         "--folder F or --synthetic DIR")
    if a.folder and (t["pairs"] or a.synthetic):
        raise ValueError("train: --folder trains on that folder alone; --pairs and --synthetic combine")
    train_pairs, val_pairs, data = training_pairs(t, a.folder, a.synthetic, a.annotation_type, progress=not a.quiet)
    notes = {"data": data}
    if t["licence"]:
        notes["licence"] = t["licence"]
    existed = Path(a.out).exists()
    try:
        header = train(train_pairs, val_pairs, a.out, init=t["init"],
                       encoder=t["encoder"] or DEFAULT_MODEL["encoder"], epochs=t["epochs"],
                       steps_per_epoch=t["steps"], batch=t["batch"], tile=t["tile_px"], lr=t["lr"], seed=t["seed"],
                       device=t["device"], threads=a.threads, rsml_width_px=t["rsml_width_px"],
                       root_fraction=t["root_fraction"], augmentation=t["augmentation"],
                       skeleton_weight=t["skeleton_weight"], progress=not a.quiet, notes=notes,
                       bit_depth=t["bit_depth"], centreline_band_px=t["centreline_band_px"],
                       lab_fraction=t["lab_fraction"], synthetic_share=t["synthetic_share"],
                       choose_threshold=t["pick_threshold"],
                       pixel_size_mm=a.pixel_size_mm or (0.05 if a.synthetic and not t["pairs"] else None))
    except KeyboardInterrupt:
        if Path(a.out).exists() and not existed:
            print(f"train: interrupted; {a.out} holds the best epoch finished so far", file=sys.stderr)
        raise
    f1 = header["scores"]["validation"].get("f1", float("nan"))
    kept = "last epoch's checkpoint (no validation)" if math.isnan(f1) else "best checkpoint"
    print(f"train: {kept} {a.out}: {header['scores']}")


def cmd_evaluate(a) -> None:
    from rootpipe.io.atomic import atomic_path
    from rootpipe.learn.evaluate import evaluate
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT

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
                                  bit_depth=cfg.get("bit_depth"), border_px=cfg.get("border_px") or 0)
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    if a.out:
        with atomic_path(a.out) as tmp:
            per_image.to_csv(tmp, index=False)
        print(f"evaluate: per-image scores in {a.out}")


def cmd_run(a, extra: list[str]) -> int:
    from rootpipe.run import run_workflow

    return run_workflow(a.profile, a.configfile, extra)


#: (subcommand, function, help, [(argument, help)]) of the stages whose arguments are files
STAGE_COMMANDS = [
    ("tile", cmd_tile, "one batch's images into an OME-Zarr store",
     [("batch", "batch list file (results/batches/BATCH.tsv)"), ("out", "output store (results/images/BATCH.zarr)")]),
    ("segment", cmd_segment, "root probability and mask for one batch",
     [("images", "image store (results/images/BATCH.zarr)"),
      ("out", "output store (results/segmentation/BATCH.zarr)")]),
    ("traits", cmd_traits, "root traits of one batch's masks",
     [("segmentation", "segmentation store (results/segmentation/BATCH.zarr)"),
      ("out", "output table (results/traits/BATCH.parquet)"),
      ("--branches", "also write one row per skeleton branch to this parquet"),
      ("--rsml", "also write one RSML file per image into this folder")]),
    ("track", cmd_track, "growth per series over time",
     [("traits", "collected traits.parquet"), ("out", "growth.parquet"),
      ("--roots", "per-root table (default: roots.parquet beside OUT)"),
      ("--summary", "per-group table (default: growth_summary.parquet beside OUT)")]),
]


def parser() -> argparse.ArgumentParser:
    # Long on purpose: argparse declarations, one block per subcommand.
    top = argparse.ArgumentParser(prog="rootpipe", description=__doc__.splitlines()[0])
    from rootpipe import __version__

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

    p = sub.add_parser("train", help="train a U-Net on annotated images",
                       description="Settings not given as flags come from the config's train section "
                                   "(--config; its defaults are the schema's, listed in config/README.md).")
    src = p.add_argument_group("training images (--pairs and --synthetic combine: a generalist model)")
    src.add_argument("--pairs", help="CSV with image, annotation, annotation_type, split (default: train.pairs)")
    src.add_argument("--folder", help="folder with images/ and same-stem masks/")
    src.add_argument("--synthetic", help="generate synthetic training campaigns in this folder")
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    p.add_argument("--annotation-type", default="mask", help="for --folder: mask, rootpainter, ...")
    p.add_argument("--pixel-size-mm", type=float,
                   help="mm per pixel of the training images, recorded in the checkpoint so a campaign at "
                        "another scale is warned (default: the --init checkpoint's; 0.05 for --synthetic)")
    p.add_argument("--bit-depth", type=int, help="camera bits of 16-bit images (default: the config's bit_depth)")
    _add_train_flags(p)  # each overrides the config's train.<key>
    _add_common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="scores and length agreement against annotations")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", help="CSV with image, annotation, annotation_type, split")
    src.add_argument("--folder", help="folder with images/ and same-stem masks/")
    p.add_argument("--split")
    p.add_argument("--dataset", help="only rows of this dataset (pairs CSV)")
    p.add_argument("--annotation-type", default="mask")
    p.add_argument("--checkpoint", help="rootpipe checkpoint (default: the config's segment.checkpoint, "
                                         "else the shipped model)")
    p.add_argument("--method", choices=["classical", "unet"], help="default: the config's segment.method")
    p.add_argument("--out", help="per-image CSV")
    _add_common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("ingest", help="find, check and batch the campaign's images")
    _add_common(p)
    p.set_defaults(func=cmd_ingest)

    # The per-batch and per-campaign stages Snakemake's rules call: positionals and options with their help.
    for name, func, text, arguments in STAGE_COMMANDS:
        p = sub.add_parser(name, help=text)
        for argument, argument_help in arguments:
            p.add_argument(argument, help=argument_help)
        _add_common(p)
        p.set_defaults(func=func)

    p = sub.add_parser("collect", help="join every batch's traits with the manifest")
    p.add_argument("manifest")
    p.add_argument("traits", nargs="*")
    p.add_argument("--out", required=True,
                   help="traits.parquet (traits.csv, traits_rve.csv and its metadata are written beside it)")
    _add_common(p, threads=False, quiet=False)
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("report", help="self-contained HTML report")
    p.add_argument("manifest")
    p.add_argument("traits")
    p.add_argument("growth")
    p.add_argument("out")
    p.add_argument("--figures", help="also write the figures as PNG files into this folder")
    _add_common(p, threads=False, quiet=False)  # no progress bar to silence
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("annotate", help="export the least confident images for correction (RootPainter, napari, "
                                        "any paint program), import the corrections and fine-tune")
    p.add_argument("action", choices=["export", "import", "open"])
    p.add_argument("folder", help="the annotation folder (export writes it; import and open read it)")
    p.add_argument("--results", help="export: the campaign's results folder (default: the config's results_dir)")
    p.add_argument("-n", type=int, default=10, help="export: images to annotate this round (default 10)")
    p.add_argument("--rank", choices=["confidence", "doubt"], default="confidence",
                   help="export: take first the least confident images (default) or those with the most root "
                        "length in doubt ((1 - confidence) x length); either way spread over series and the season")
    p.add_argument("--out", help="import: the fine-tuned model to write (.safetensors)")
    p.add_argument("--init", help="import: start from this model (default: the one that segmented the export)")
    p.add_argument("--steps", type=int, default=100,
                   help="import: training steps per epoch for one round's annotations; round k trains k times "
                        "as many (default 100)")
    p.add_argument("--epochs", type=int, default=5, help="import: epochs (default 5)")
    p.add_argument("--image-id", help="open: the exported image to open (default: the first)")
    _add_common(p)
    p.set_defaults(func=cmd_annotate)
    p = sub.add_parser("view", help="an image with its root probability and mask in napari (needs napari)")
    p.add_argument("image_id", help="image_id as in traits.csv")
    _add_common(p, threads=False, quiet=False)
    p.set_defaults(func=cmd_view)
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
