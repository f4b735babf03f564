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
                  **mask_settings) -> dict:
    """Pooled pixel scores and length agreement of one mask setting, as ``rootpipe evaluate`` scores.

    Parameters
    ----------
    probabilities : (H, W) root probability per image (cast to float32 for thresholding).
    labels : (H, W) annotation per image (1 root, 0 background, 255 unlabelled).
    annotated_px : each annotation's root length (px), measured once by the caller.
    border_px : pixels along every edge left out of the predicted length, as the config's
        ``border_px`` (the caller leaves them out of ``annotated_px`` too).
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
    return {"F1": pooled["f1"], "precision": pooled["precision"], "recall": pooled["recall"],
            "length r²": lengths["length_r2"], "length slope": lengths["length_slope"],
            "length R² about 1:1": lengths["length_r2_identity"]}
