"""The one owner of upgrades: what a results folder made by another rootpipe gets.

Every switch that keeps an older campaign working, or makes it redo work on purpose, is
named here; nothing elsewhere branches on a version without pointing back to this module.

- :data:`RESULTS_LAYOUT`, recorded in ``{results_dir}/.rootpipe-layout.json`` by ``rootpipe run``
  (:func:`check_results_layout`). A folder with no record was made before layouts were
  recorded (layout 1, the same as today's) and is carried forward. A folder from a newer
  layout is refused with the command that upgrades rootpipe: its tables may hold what this
  version cannot read, and rewriting them would lose it.
- Cache versions: raising one makes exactly that cache be computed again, once.
  :data:`CHECK_VERSION` (ingest's per-file decode checks) and :data:`TRACK_VERSION`
  (per-series tracking results).
- :data:`TRACK_TABLES` is a param of the track rule: raising it re-runs track (series come
  from its cache) on campaigns whose tables an older rootpipe wrote.
- :data:`ADDED_LATER`: settings added after campaigns existed. While unset they are left out
  of a rule's settings, so the rules of a campaign made before them keep their params and
  are not run again.
- Stores: segmentation stores written before the mask was an NGFF label keep it at
  ``{image_id}/mask`` (:func:`rootpipe.io.stores.mask_array` reads both), and stores written
  before the ``bioformats2raw.layout`` listing lack it (rootpipe reads them alike; OME-Zarr
  readers find their images one by one). Arrays written before every chunk was stored (no ``rootpipe_all_chunks_stored``
  attribute) are read without the missing-chunk check
  (:func:`rootpipe.io.stores.checked`); segmentation stores without source file names
  (``files``) give RSML files named by ``image_id``.
"""
from __future__ import annotations

import json
from pathlib import Path

from rootpipe.io.atomic import write_text_if_changed

#: layout of a results folder: its tables, stores and caches as this rootpipe reads them
RESULTS_LAYOUT = 1
LAYOUT_FILE = ".rootpipe-layout.json"

#: version of ingest's decode verdicts; raise it when they change (as when blank captures
#: became rejections), so cached checks of an earlier version are made again, once
CHECK_VERSION = 5
#: version of track_series' results; raise it when they change, so cached series are tracked again
TRACK_VERSION = 2
#: layout of the track stage's tables (2: imaging_round)
TRACK_TABLES = 2
#: settings added after campaigns existed, left out of rule params while unset (null or 0)
ADDED_LATER = frozenset({"bit_depth", "border_px"})


def check_results_layout(results: Path, version: str) -> str | None:
    """Check and record the layout of ``results`` before a run writes to it.

    Returns a note when an unrecorded (older) folder is carried forward, None otherwise.
    Raises ValueError, with the upgrade command, for a folder of a newer layout.
    """
    record = results / LAYOUT_FILE
    note = None
    if record.exists():
        try:
            layout = int(json.loads(record.read_text())["layout"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{record} cannot be read ({exc}); it records which rootpipe made {results}: "
                             f"if you did not edit it, delete it and run again") from None
        if layout > RESULTS_LAYOUT:
            raise ValueError(f"{results} was made by a newer rootpipe (results layout {layout}; this rootpipe "
                             f"{version} reads layout {RESULTS_LAYOUT}): upgrade rootpipe "
                             "(pip install --upgrade rootpipe, or git pull && make install) and run again")
    elif any(results.glob("*.parquet")):
        note = (f"{results} was made by an earlier rootpipe (no {LAYOUT_FILE}); its layout is this one's, so "
                "its results are carried forward and only what changed is computed again")
    results.mkdir(parents=True, exist_ok=True)
    write_text_if_changed(record, json.dumps({"layout": RESULTS_LAYOUT, "rootpipe": version}) + "\n")
    return note
