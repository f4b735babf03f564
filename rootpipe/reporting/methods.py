"""The report's methods: a paragraph to adapt for a paper and the settings behind it, from what the
segmentation stores recorded and the run's config."""
from __future__ import annotations

import pandas as pd


def _ran_on(resolved: dict) -> str:
    """'cuda, fp16, 8 tiles per pass' from a segmentation store's resolved settings."""
    parts = [resolved.get("device"), resolved.get("precision"),
             f"{resolved['batch_tiles']} tile(s) per pass" if "batch_tiles" in resolved else None]
    return ", ".join(p for p in parts if p)


def methods(segment_attrs: list[dict], config: dict, timecourse: bool = True) -> tuple[str, pd.DataFrame]:
    """A methods paragraph and the settings behind it, from what the segmentation stores recorded.

    Parameters
    ----------
    segment_attrs : the ``rootpipe`` attribute of each batch's ``segmentation/{batch}.zarr``.
    config : the run's config (``traits``, ``track`` and the pixel size are read from it).
    timecourse : whether any series has several images (else tracking is left out).

    Returns
    -------
    (text, table) : a sentence to adapt for a paper, and one row per setting.
    """
    # Long on purpose: the Methods table row by row, in the order a paper's methods read.
    from rootpipe import __version__
    from rootpipe.config import pixel_size_mm

    def key(a):
        return repr((a.get("settings"), (a.get("model") or {}).get("sha256")))

    pixel = pixel_size_mm(config)
    distinct = {key(a): a for a in segment_attrs}
    versions = sorted({a.get("version") or "(not recorded)" for a in segment_attrs})
    rows = [("rootpipe (this report)", __version__)]
    text = []
    if not distinct:
        return "", pd.DataFrame(rows, columns=["setting", "value"])
    first = next(iter(distinct.values()))
    s, model = dict(first.get("settings") or {}), first.get("model")
    # threshold null: the checkpoint's own, recorded with what the stage resolved
    s["threshold"] = (first.get("resolved") or {}).get("threshold", s.get("threshold"))
    if len(distinct) > 1:
        differ = sorted({k for a in distinct.values() for k, v in (a.get("settings") or {}).items()
                         if v != s.get(k)} | ({"model"} if len({(a.get("model") or {}).get("sha256")
                                                                for a in distinct.values()}) > 1 else set()))
        rows.append(("segmentation", f"WARNING: the {len(segment_attrs)} batches were segmented with "
                     f"{len(distinct)} different settings or models (differing: {', '.join(differ)}); the "
                     "first is shown. Run again with --forcerun segment to segment all alike"))
    rows += [("segmented with rootpipe", ", ".join(versions).replace("(not recorded)",
                                                                     "(not recorded: an earlier rootpipe)")),
             ("segment method", s.get("method"))]
    if s.get("method") == "unet":
        if model:
            rows += [("model file", model["file"]), ("model SHA-256", model["sha256"]),
                     ("network", f"{model['architecture']}, {model['encoder']} encoder"),
                     ("trained on", model.get("trained_on") or "(not recorded)"),
                     *([("fine-tuned from", model["fine_tuned_from"])] if model.get("fine_tuned_from") else []),
                     *([("model's validation F1", f"{model['validation_f1']:.3f}")]
                       if model.get("validation_f1") is not None else [])]
            if (model.get("trained_on") or "").startswith("synthetic") and not model.get("fine_tuned_from"):
                rows.append(("model's training", "NOTE: synthetic images only. On real images this model can take "
                                                 "soil features for roots; fine-tune it on a few annotated images "
                                                 "of the campaign (README, 'Training a model for your images')"))
            trained_at = model.get("pixel_size_mm")
            seen = pixel / s.get("input_scale", 1) if pixel else pixel  # what the network sees
            if trained_at and seen and not 0.8 <= trained_at / seen <= 1.25:
                shown = f" (shown to it at {seen:g}: segment.input_scale)" if seen != pixel else ""
                rows.append(("model scale", f"WARNING: the model was trained on images of {trained_at:g} mm per "
                                            f"pixel and this campaign's are {pixel:g}{shown}: roots appear "
                                            f"{trained_at / seen:.1f}x as wide to it as in training. Fine-tune it "
                                            "on a few of this campaign's images, or set segment.input_scale to "
                                            f"{min(4.0, max(0.25, pixel / trained_at)):.2g} (its range 0.25-4; "
                                            "docs/segmentation.md)"))
            trained = model.get("trained_on")
            text.append(f"Roots were segmented with rootpipe {first.get('version') or __version__}, a "
                        f"{model['architecture']} with a {model['encoder']} encoder (checkpoint {model['file']}, "
                        f"SHA-256 {model['sha256'][:12]}" + (f", trained on {trained}" if trained else "") + ")")
        else:
            rows.append(("model", f"{s.get('checkpoint') or 'shipped default'} (SHA-256 not recorded: "
                                  "segmented before rootpipe recorded it)"))
            text.append(f"Roots were segmented with rootpipe's U-Net ({s.get('checkpoint') or 'shipped model'})")
        rows += [("tiles (px)", f"{s.get('tile_px')}, overlap {s.get('overlap_px')}"),
                 ("test-time flips", "yes" if s.get("tta") else "no"),
                 *([("tiles resampled for the network by", s["input_scale"])]
                   if s.get("input_scale", 1) != 1 else []),
                 ("ran on", _ran_on(first.get("resolved") or {}))]
    else:
        text.append(f"Roots were segmented with rootpipe's classical ridge filter (scales "
                    f"{s.get('ridge_sigmas_px')} px)")
    rows += [("root probability threshold", s.get("threshold")),
             ("specks removed below (px)", s.get("min_object_area_px")),
             *([("centre-lines of faint roots above", s["centreline_threshold"])]
               if s.get("centreline_threshold") is not None else [])]
    wide = ""
    if s.get("max_object_width_px") is not None:
        rows.append(("objects wider on average than (px) removed", s["max_object_width_px"]))
        wide = f", and objects wider on average than {s['max_object_width_px']} px"
    text[-1] += (f"; pixels with a root probability above {s.get('threshold')} were classed as root and "
                 f"objects under {s.get('min_object_area_px')} px removed{wide}.")
    traits, track = config.get("traits") or {}, config.get("track") or {}
    rows += [("pixel size (mm)", f"{pixel:g}"),
             *([("image border left out (px)", config["border_px"])] if config.get("border_px") else []),
             *((f"traits: {k}", v) for k, v in sorted(traits.items())),
             *((f"track: {k}", v) for k, v in sorted(track.items()) if timecourse)]
    text.append(f"Root length, diameter and tip counts were measured on the masks' skeletons at "
                f"{pixel:g} mm per pixel.")
    if timecourse:
        text.append(f"Each series' images were registered to the previous timepoint "
                    f"({track.get('registration', 'translation')}) and roots matched within "
                    f"{track.get('tolerance_px', 3)} px to follow growth.")
    table = pd.DataFrame([(k, "" if v is None else str(v)) for k, v in rows], columns=["setting", "value"])
    return " ".join(text), table
