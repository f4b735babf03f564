"""What benchmark scripts share: running ``rootpipe run``, scoring mask settings, writing tables into documents."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def rootpipe_executable() -> str:
    """The ``rootpipe`` script of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "rootpipe"
    return str(exe) if exe.exists() else "rootpipe"


def run_pipeline(out: Path, config: Path) -> float:
    """``rootpipe run`` in ``out``; returns its wall time (s). Its output is appended to ``out/rootpipe-run.log``."""
    cmd = [rootpipe_executable(), "run", "--configfile", config.name]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    with open(out / "rootpipe-run.log", "a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"rootpipe run failed ({done.returncode}); log in {out / 'rootpipe-run.log'}")
    return seconds


def replace_section(doc: Path, begin: str, end: str, body: str) -> None:
    """Replace what lies between ``begin`` and ``end`` in ``doc`` with ``body`` (SystemExit if either is missing)."""
    text = doc.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{doc} has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{body}\n{end}{tail}")
    print(f"wrote {doc}")


def score_setting(probabilities: list, labels: list, annotated_px: list, border_px: int = 0,
                  with_lengths: bool = False, **mask_settings) -> dict:
    """Pooled pixel scores and length agreement of one mask setting, as ``rootpipe evaluate`` scores.

    Parameters
    ----------
    probabilities : (H, W) root probability per image (cast to float32 for thresholding).
    labels : (H, W) annotation per image (1 root, 0 background, 255 unlabelled).
    annotated_px : each annotation's root length (px), measured once by the caller.
    border_px : pixels along every edge left out of the predicted length, as the config's
        ``border_px`` (the caller leaves them out of ``annotated_px`` too).
    with_lengths : also return each image's predicted length (px) as ``predicted_px``.
    mask_settings : keyword arguments of :func:`rootpipe.segmentation.segmenter.to_mask`.
    """
    import numpy as np

    from rootpipe.learn.evaluate import length_agreement
    from rootpipe.learn.metrics import pool, scores
    from rootpipe.segmentation.segmenter import to_mask
    from rootpipe.traits import clear_border, measure

    counts, predicted = [], []
    for p, lab in zip(probabilities, labels):
        mask = to_mask(np.asarray(p, np.float32), **mask_settings)
        counts.append(scores(mask, lab))
        predicted.append(measure(clear_border(mask, border_px))["total_length_mm"])
    pooled, lengths = pool(counts), length_agreement(predicted, annotated_px)
    row = {"F1": pooled["f1"], "precision": pooled["precision"], "recall": pooled["recall"],
           "length r²": lengths["length_r2"], "length slope": lengths["length_slope"],
           "length R² about 1:1": lengths["length_r2_identity"]}
    return {**row, "predicted_px": np.array(predicted)} if with_lengths else row


def validation_pick(r2, slope) -> int | None:
    """Position of the setting validation's rule picks, or None: the highest length r² whose slope
    lies within 0.9-1.1 (a length measured 10 % off is not chosen for how well it ranks images)."""
    import numpy as np

    r2, slope = np.asarray(r2, float), np.asarray(slope, float)
    fair = np.flatnonzero((slope >= 0.9) & (slope <= 1.1) & ~np.isnan(r2))
    return int(fair[np.argmax(r2[fair])]) if len(fair) else None


def bootstrap_picks(predicted_px: dict, annotated_px, draws: int = 2000, seed: int = 0) -> dict:
    """How often validation's rule picks each setting when its images are drawn again with replacement.

    Parameters
    ----------
    predicted_px : setting -> each image's predicted length (px), in the order of ``annotated_px``.
    annotated_px : each image's annotated length (px).
    draws : bootstrap draws; seed : of the draws, so a run repeats.

    Returns
    -------
    setting -> share of the draws (0-1) in which it is picked; ``None`` for draws where no setting's
    slope lies within 0.9-1.1. Sorted, most often picked first.
    """
    import numpy as np

    from rootpipe.learn.evaluate import length_agreement

    settings = list(predicted_px)
    lengths = np.array([predicted_px[k] for k in settings], float)
    annotated = np.asarray(annotated_px, float)
    rng, wins = np.random.default_rng(seed), {}
    for _ in range(draws):
        drawn = rng.integers(0, len(annotated), len(annotated))
        scored = [length_agreement(p[drawn], annotated[drawn]) for p in lengths]
        pick = validation_pick([s["length_r2"] for s in scored], [s["length_slope"] for s in scored])
        key = None if pick is None else settings[pick]
        wins[key] = wins.get(key, 0) + 1
    return {k: n / draws for k, n in sorted(wins.items(), key=lambda kv: -kv[1])}
