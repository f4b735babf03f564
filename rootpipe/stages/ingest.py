"""Ingest: find a campaign's images, parse their metadata, check they decode.

Produces the manifest (one row per file, accepted or rejected with a reason)
and one list file per batch. Image identity comes from metadata and content,
never from a file's position in a listing, so new files never rename old ones.
"""
from __future__ import annotations

import filecmp
import hashlib
import os
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe.columns import MANIFEST_COLUMNS, RESULT_COLUMNS
from rootpipe.compat import CHECK_VERSION
from rootpipe.config import check_filename_fields, check_input_dir
from rootpipe.io.atomic import atomic_path, write_table, write_text_if_changed
from rootpipe.io.decode import UnreadableImage, check_declared_size, read_image, transparency_reason, white_level

ACCEPTED, REJECTED = "accepted", "rejected"
BATCH_COLUMNS = ["image_id", "path", "series", "timestamp"]
#: columns a decode check fills; reused from the checks cache when a file is unchanged
CHECK_COLUMNS = ["status", "reason", "content_hash", "height_px", "width_px", "channels", "dtype", "bit_depth"]
CHECK_KEY = ["path", "size_bytes", "mtime_ns"]
#: manifest columns a metadata table cannot join on (series and session it can)
FILE_COLUMNS = set(MANIFEST_COLUMNS) - {"series", "session"}
#: decode checks kept between runs (not a workflow output: Snakemake deletes those before a job)
CHECKS_CACHE = Path("cache") / "ingest_checks.parquet"
#: images with a side shorter than this (px) are rejected: thumbnails and icons, not captures
MIN_SIDE_PX = 32


def scan(input_dir: str | Path, extensions) -> pd.DataFrame:
    """List candidate image files below ``input_dir``.

    No entry stops the listing: a name that is not UTF-8, a link that loops or leads nowhere
    gets a ``scan_reason`` (the file is then rejected with it, never opened), and a folder
    that cannot be listed is named in a warning.

    Returns
    -------
    DataFrame
        ``path`` (relative to the working directory, as ``input_dir`` was given),
        ``file`` (name), ``size_bytes``, ``mtime_ns``, ``scan_reason``; sorted by path.
    """
    input_dir = check_input_dir(input_dir)
    # "png" and ".png" alike; a suffix of several dots (".ome.tif") matches the name's end
    wanted = tuple(sorted({"." + e.strip().lstrip(".").lower() for e in extensions}))
    rows = []
    seen = set()  # real folders walked: a link back up the tree must not loop

    def unlisted(exc: OSError) -> None:
        print(f"ingest: warning: cannot list folder {printable(exc.filename)} ({exc.strerror}): the images in "
              "it are left out; make it readable (chmod) or move them out of input_dir", flush=True)

    for root, dirs, files in os.walk(input_dir, followlinks=True, onerror=unlisted):
        seen.add(os.path.realpath(root))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(root, d)) not in seen)
        for name in files:
            if name.startswith(".") or not name.lower().endswith(wanted):
                continue
            full = os.path.join(root, name)
            reason = None
            try:
                st = os.stat(full)
            except OSError as exc:  # a broken or looping link, a folder denied: rejected with the reason
                st = os.lstat(full)
                reason = f"cannot read: {exc.strerror}{_link_note(full)}"
            if printable(full) != full:
                reason = ("the file name is not valid UTF-8 (shown with \\x escapes): rename it, e.g. "
                          "with convmv, so that tables and reports can name it")
            rows.append((Path(printable(root), printable(name)).as_posix(), printable(name), st.st_size,
                         st.st_mtime_ns, reason))
    frame = pd.DataFrame(rows, columns=["path", "file", "size_bytes", "mtime_ns", "scan_reason"])
    return frame.sort_values("path", ignore_index=True)


def printable(name: str) -> str:
    """A file name as text that tables can hold: bytes that are not UTF-8 written as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def parse_names(files: pd.DataFrame, pattern: str, series_fields, timestamp_fields,
                timestamp_format: str | None) -> pd.DataFrame:
    """Parse metadata from file names with a regular expression's named groups.

    Every named group becomes a column; ``series`` joins the series fields
    with ``_`` and ``timestamp`` parses the timestamp fields joined by a space.
    Rows that do not match get ``reason`` set.
    """
    check_filename_fields({"filename_pattern": pattern, "series_fields": series_fields,
                           "timestamp_fields": timestamp_fields})
    groups = match_names(files["file"], pattern)
    out = pd.concat([files, groups.astype("object")], axis=1)
    matched = groups.notna().any(axis=1) if len(groups.columns) else pd.Series(False, index=files.index)
    out["reason"] = np.where(matched, None, f"file name does not match filename_pattern {pattern!r}")
    # An optional group that matched nothing (409.jpg beside 409R.jpg) adds no '_' of its own.
    series = out[list(series_fields)].fillna("").astype(str).agg(
        lambda parts: "_".join(p for p in parts if p), axis=1).where(matched)
    out["series"] = series.str.replace(r"[^A-Za-z0-9._-]+", "-", regex=True)
    raw = pd.DataFrame({"raw": series, "clean": out["series"]}).dropna().drop_duplicates()
    clash = raw[raw["clean"].duplicated(keep=False)]
    if len(clash):  # two plants would become one series
        examples = clash.groupby("clean")["raw"].apply(lambda v: " and ".join(map(repr, sorted(v)))).head(3)
        raise ValueError(f"series names {'; '.join(examples)} would all become "
                         f"{', '.join(map(repr, examples.index))}: only letters A-Z, digits, '.', '_' and '-' "
                         "are kept in series names (they name files), the rest become '-'. Rename the files "
                         "so that their series fields differ in those characters")
    stamp = out[list(timestamp_fields)].fillna("").astype(str).agg(" ".join, axis=1).where(matched)
    # Without a format, ISO 8601 only, each value on its own: pandas' guess takes the first file's
    # format for all of them, and reads 01.05.2026 as 5 January.
    out["timestamp"] = parse_timestamps(stamp, timestamp_format)
    bad_time = matched & out["timestamp"].isna()
    expected = (f"with timestamp_format {timestamp_format!r}" if timestamp_format else
                "as ISO 8601 (timestamp_format null), e.g. 2026-05-01 or 2026-05-01 13:45; set "
                "timestamp_format to your names' strptime format, e.g. '%d.%m.%Y'")
    out.loc[bad_time, "reason"] = stamp[bad_time].map(lambda s: f"cannot parse timestamp {s!r} {expected}")
    out["session"] = out["timestamp"].dt.strftime("%Y-%m-%d")
    return out


#: seconds one file name may take to match ``filename_pattern``
MATCH_TIMEOUT_S = 1.0


def match_names(names: pd.Series, pattern: str) -> pd.DataFrame:
    """The named groups of ``pattern`` searched in each name (NaN where it does not match).

    Matching is bounded in time: a pattern with nested quantifiers such as ``(a|aa)+`` can
    backtrack for hours on one name, so a name that takes longer than ``MATCH_TIMEOUT_S``
    stops ingest with a message naming the pattern and the name.
    """
    import regex  # re cannot be interrupted; the regex module takes a timeout

    compiled = regex.compile(pattern)
    fields = list(compiled.groupindex)
    rows = []
    for name in names:
        try:
            found = compiled.search(name, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            raise ValueError(f"invalid rootpipe configuration:\n  filename_pattern {pattern!r} took over "
                             f"{MATCH_TIMEOUT_S:g} s to match the file name {name!r}: it backtracks without end "
                             "(a repeated group that can match the same text in several ways, such as (a|aa)+ "
                             "or (\\w+_?)+). Write each field once, e.g. (?P<tube>T\\d+)_(?P<date>\\d{8})") from None
        rows.append(found.groupdict() if found else dict.fromkeys(fields))
    return pd.DataFrame(rows, index=names.index, columns=fields, dtype=object)


def parse_timestamps(stamp: pd.Series, timestamp_format: str | None) -> pd.Series:
    """Timestamps of file-name text; NaT where it cannot be read.

    Names that carry different UTC offsets (a campaign across a daylight-saving change, or
    ``Z`` beside local times) are read each on its own and kept as the wall-clock time written:
    sessions are the days the names say, and an interval across the change is off by its hour.
    """
    fmt = timestamp_format or "ISO8601"
    try:
        return pd.to_datetime(stamp, format=fmt, errors="coerce")
    except ValueError:  # "Mixed timezones detected"
        def one(value):
            parsed = pd.to_datetime(value, format=fmt, errors="coerce")
            return parsed.tz_localize(None) if not pd.isna(parsed) and parsed.tzinfo is not None else parsed
        return pd.to_datetime(pd.Series([one(v) for v in stamp], index=stamp.index, dtype=object))


def check_file(path: str, max_megapixels: float | None = None) -> dict:
    """Decode one file fully and hash its bytes.

    Only regular files are opened for reading: a named pipe would block, a device
    (a link to /dev/zero) never end. Images declaring more than ``max_megapixels``
    are rejected from their header, before any pixel is decoded.

    Returns
    -------
    dict
        The ``CHECK_COLUMNS`` values for this file.
    """
    def rejected(reason, digest=None):
        return dict(status=REJECTED, reason=reason, content_hash=digest,
                    height_px=None, width_px=None, channels=None, dtype=None, bit_depth=None)

    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer; fstat then says what it is.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return rejected(f"not a regular file ({_file_kind(st.st_mode)}): only image files are read")
            with os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read()
        finally:
            os.close(fd)
    except OSError as exc:  # a broken link, a file deleted or unreadable since the scan
        return rejected(f"cannot read: {exc.strerror}{_link_note(path)}")
    digest = hashlib.blake2b(data, digest_size=4).hexdigest()
    try:
        if max_megapixels and data:  # an empty file gets read_image's own reason
            check_declared_size(path, max_megapixels)
        array = read_image(path)
    except UnreadableImage as exc:
        return rejected(str(exc), digest)
    white = white_level(array)  # one pass over the pixels for both uses
    blank = size_reason(array) or transparency_reason(array, white) or blank_reason(array, white)
    return dict(status=REJECTED if blank else ACCEPTED, reason=blank, content_hash=digest,
                height_px=array.shape[0], width_px=array.shape[1],
                channels=1 if array.ndim == 2 else array.shape[2], dtype=str(array.dtype),
                # the bits the image is scaled to 8 bits from (None for float images)
                bit_depth=None if array.dtype.kind == "f" else int(white).bit_length())


def _link_note(path: str) -> str:
    """`` (a link to X[, which does not exist])`` for a symbolic link, else nothing."""
    if not os.path.islink(path):
        return ""
    link = os.readlink(path)
    target = os.path.join(os.path.dirname(path), link)
    return f" (a link to {printable(link)}{'' if os.path.lexists(target) else ', which does not exist'})"


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a file"


def size_reason(array: np.ndarray) -> str | None:
    """Why an image is too small to be a capture (a thumbnail, an icon), or None."""
    h, w = array.shape[:2]
    if min(h, w) < MIN_SIDE_PX:
        return (f"image is only {w} x {h} px (under {MIN_SIDE_PX} px on a side): a thumbnail or "
                "preview, not a capture?")
    return None


def blank_reason(array: np.ndarray, white: float | None = None) -> str | None:
    """Why an image is blank (one grey level, give or take noise), or None.

    A capture that failed (lights off, lens cap, an overexposed frame) holds no roots; measured,
    it reads as zero roots (black) or as one huge root (white), and the next timepoint would be
    registered against it. ``white``: the image's :func:`white_level`, if already computed.
    """
    sample = array[::4, ::4].astype(np.float32)
    if sample.ndim == 3:
        if sample.shape[-1] in (2, 4):
            sample = sample[..., :-1]  # alpha is no picture: an opaque layer would pass as contrast
        sample = sample.reshape(-1, sample.shape[-1])
    white = white_level(array) if white is None else white
    spread = 2.0 * white / 255  # 2 grey levels of 255 at the image's own bit depth
    # Per channel: a uniform coloured frame (LED light, a lens cap) differs between channels only.
    if float(np.max(sample.std(axis=0))) <= spread:
        return f"blank image (every pixel near {float(sample.mean()):.0f}): a failed capture?"
    return None


def check_files(files: pd.DataFrame, previous: pd.DataFrame | None, threads: int = 1,
                progress: bool = False, max_megapixels: float | None = None) -> pd.DataFrame:
    """Decode-check every file that is new or changed since ``previous``.

    Unchanged files (same path, size and mtime) keep their earlier result:
    re-ingesting a campaign of 100 000 images only decodes the new ones. Files the
    scan gave a ``scan_reason`` are rejected with it, unopened.
    """
    key = CHECK_KEY
    known = pd.DataFrame(columns=key + CHECK_COLUMNS)
    if previous is not None and set(key + CHECK_COLUMNS) <= set(previous.columns):
        known = previous[key + CHECK_COLUMNS]
    merged = files.merge(known, on=key, how="left", suffixes=("", "_known"))
    # One column type whether or not anything was decoded: a type that changes with it changes the
    # manifest's bytes, and Snakemake then re-runs collect, track and report for nothing.
    for column in CHECK_COLUMNS:
        merged[column] = merged[column].astype("object")
    if "scan_reason" in merged:
        unopened = merged["scan_reason"].notna()
        merged.loc[unopened, CHECK_COLUMNS] = None
        merged.loc[unopened, "status"] = REJECTED
        merged.loc[unopened, "reason"] = merged.loc[unopened, "scan_reason"]
        merged = merged.drop(columns="scan_reason")
    todo = merged.index[merged["status"].isna()]
    if len(todo):
        from tqdm import tqdm

        with ThreadPoolExecutor(max(1, threads)) as pool:
            results = list(tqdm(pool.map(partial(check_file, max_megapixels=max_megapixels),
                                         merged.loc[todo, "path"]), total=len(todo),
                                desc="ingest: checking images", unit="img", disable=not progress))
        checked = pd.DataFrame(results, index=todo)
        for column in CHECK_COLUMNS:
            merged.loc[todo, column] = checked[column].astype("object")
    return merged


def make_image_ids(manifest: pd.DataFrame) -> pd.Series:
    """``{series}_{YYYYmmddTHHMMSS}_{content hash}``: stable under new files arriving."""
    stamp = manifest["timestamp"].dt.strftime("%Y%m%dT%H%M%S")
    return manifest["series"] + "_" + stamp + "_" + manifest["content_hash"]


def assign_batches(manifest: pd.DataFrame, batch_size: int, previous: dict | None = None) -> pd.Series:
    """Batch = acquisition session (day), split into chunks of at most ``batch_size``.

    Named ``{session}-{k:03d}``; order within a session is by series and time, not by
    listing order. ``previous`` (image_id -> batch, from the batch files of the last
    run) keeps images where they were: an image arriving late in a session goes into a
    new batch of its own session instead of shifting every later batch of it (which
    would tile and segment them again), and a deleted one changes only its own batch.
    A session whose earlier batches exceed ``batch_size`` (it was lowered) is split afresh.
    """
    batch = pd.Series(None, index=manifest.index, dtype="object")
    accepted = manifest[manifest["status"] == ACCEPTED]
    for session, group in accepted.groupby("session", sort=True):
        order = group.sort_values(["series", "timestamp", "image_id"]).index
        kept = group["image_id"].map(previous or {}).dropna().astype(str)
        kept = kept[kept.str.startswith(f"{session}-")]
        if (kept.value_counts() > batch_size).any():
            kept = kept.iloc[:0]
        batch.loc[kept.index] = kept
        rest = order.difference(kept.index, sort=False)
        k = max((int(name.rsplit("-", 1)[1]) for name in kept), default=0)
        for start in range(0, len(rest), batch_size):
            k += 1
            batch.loc[rest[start:start + batch_size]] = f"{session}-{k:03d}"
    return batch


def read_metadata(path: Path) -> pd.DataFrame:
    """A metadata table as text, with the blemishes of spreadsheet exports removed.

    Values stay text as written: pandas' default would read NA, None, null or n/a as
    missing and pool such a group with the blank one; only an empty cell is missing.
    Spaces around names and values are dropped, and so are empty rows and unnamed empty
    columns (Excel's trailing ``,,,``).
    """
    try:
        with warnings.catch_warnings():
            # A first row longer than the header: pandas would make its first cell the index and
            # shift every value one column left, or (index_col=False) drop the extra cells.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig",
                                index_col=False)
    except UnicodeDecodeError:
        raise ValueError(f"metadata_csv {path} is not UTF-8 text: save it as 'CSV UTF-8 (comma delimited)' "
                         "(Excel) or convert it to UTF-8") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise ValueError(f"metadata_csv {path} cannot be read as CSV ({exc}): give every row as many cells "
                         "as the header, and put values that contain commas in double quotes") from None
    table.columns = [str(c).strip() for c in table.columns]
    table = table.apply(lambda column: column.str.strip()).replace("", np.nan)
    empty = [c for c in table.columns if c.startswith("Unnamed:") and table[c].isna().all()]
    return table.drop(columns=empty).dropna(how="all").reset_index(drop=True)


def join_metadata(manifest: pd.DataFrame, metadata_csv: str | Path | None) -> pd.DataFrame:
    """Join a side table (genotype, treatment, ...) on the columns it shares with the manifest."""
    if not metadata_csv:
        return manifest
    path = Path(metadata_csv)
    if not path.exists():
        raise FileNotFoundError(f"metadata_csv {path} does not exist; fix the path in the config "
                                "or set metadata_csv: null")
    table = read_metadata(path)
    fields = [c for c in manifest.columns if c not in FILE_COLUMNS]
    on = [c for c in table.columns if c in fields]
    spelled = [c for c in table.columns if c not in on and c.lower() in {f.lower() for f in fields}]
    hint = (f"; its column(s) {spelled} differ from file-name fields only in case: rename them"
            if spelled else "")
    if not on:
        raise ValueError(f"metadata_csv {path} shares no column with the file-name fields; "
                         f"its columns are {list(table.columns)}, the file-name fields {fields}{hint}")
    # A column named like one rootpipe writes would be dropped, or shadow a result in the tables.
    taken = [c for c in table.columns if c not in on and (
        c in manifest.columns or c in RESULT_COLUMNS or "_diam_" in c)]
    if taken:
        raise ValueError(f"metadata_csv {path}: column(s) {taken} are names rootpipe uses for its own "
                         f"columns; rename them in the table (e.g. {taken[0]!r} -> {taken[0] + '_note'!r})")
    if table.duplicated(on).any():
        dupes = table.loc[table.duplicated(on, keep=False), on].drop_duplicates()
        raise ValueError(f"metadata_csv {path} has several rows for {dupes.to_dict('records')} "
                         f"(joined on {on}){hint}")
    blank = table.drop(columns=on).isna()
    if blank.any().any():
        cells = [f"{col} ({int(n)} row{'s' * (n > 1)})" for col, n in blank.sum().items() if n]
        print(f"ingest: warning: metadata_csv {path} has empty cells in {', '.join(cells)}; those series "
              "form a group of their own, shown as (missing)", flush=True)
    out = manifest.merge(table.assign(_matched=True), on=on, how="left")
    accepted = out["status"] == ACCEPTED
    missing = out.loc[out["_matched"].isna() & accepted]
    if accepted.any() and len(missing) == accepted.sum():
        raise ValueError(f"metadata_csv {path} has a row for none of the images (joined on {on}): the table's "
                         f"first keys are {table[on].head(3).to_dict('records')}, the images' "
                         f"{missing[on].drop_duplicates().head(3).to_dict('records')}{hint}. Make the values "
                         "match (spelling, leading zeros), or set metadata_csv: null")
    if len(missing):
        series = sorted(missing["series"].dropna().unique())
        keys = missing[on].drop_duplicates().head(5)
        keys = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in keys.to_dict("records"))
        # Rows no image matches, named beside them: a typo shows as one of each.
        unused = table[on].merge(out.loc[accepted, on].drop_duplicates(), how="left", indicator=True)
        unused = unused.loc[unused["_merge"] == "left_only", on].head(5)
        unused = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in unused.to_dict("records"))
        print(f"ingest: warning: metadata_csv {path} has no row for series {', '.join(series[:10])}"
              f"{' ...' if len(series) > 10 else ''} (joined on {on}; keys without a row: {keys}"
              f"{' ...' if missing[on].drop_duplicates().shape[0] > 5 else ''}){hint}; their metadata "
              "columns stay empty" + (f". Rows that match no image: {unused} (a typo?)" if unused else ""),
              flush=True)
    return out.drop(columns="_matched")


def _build(config, previous, threads, progress, batches=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The manifest, and the decode checks alone (before any name or duplicate rejection)."""
    files = scan(config["input_dir"], config["extensions"])
    if files.empty:
        raise ValueError(f"input_dir {config['input_dir']} holds no file ending in "
                         f"{', '.join(config['extensions'])}: put the campaign's images there (sub-folders "
                         "count too), or add their extension to extensions in the config")
    parsed = parse_names(files, config["filename_pattern"], config["series_fields"],
                         config["timestamp_fields"], config["timestamp_format"])
    name_reason = parsed.pop("reason")
    manifest = check_files(parsed, previous, threads=threads, progress=progress,
                           max_megapixels=config["max_image_megapixels"])
    checks = manifest[CHECK_KEY + CHECK_COLUMNS].assign(check_version=CHECK_VERSION,
                                                        max_image_megapixels=config["max_image_megapixels"])
    # A file-name problem outranks a decode result: the file cannot be placed in time.
    bad_name = name_reason.notna().to_numpy()
    manifest.loc[bad_name, "status"] = REJECTED
    manifest.loc[bad_name, "reason"] = name_reason[bad_name]
    ok = (manifest["status"] == ACCEPTED).to_numpy()
    manifest["image_id"] = None
    manifest.loc[ok, "image_id"] = make_image_ids(manifest[ok])
    dupes = ok & manifest["image_id"].duplicated(keep="first").to_numpy()
    if dupes.any():
        first = manifest[ok].drop_duplicates("image_id").set_index("image_id")["path"]
        manifest.loc[dupes, "reason"] = manifest.loc[dupes, "image_id"].map(
            lambda i: f"duplicate of {first[i]} (same series, time and content)")
        manifest.loc[dupes, ["status", "image_id"]] = [REJECTED, None]
    _reject_repeats(manifest)
    manifest["batch"] = assign_batches(manifest, config["batch_size"], batches)
    manifest = join_metadata(manifest, config.get("metadata_csv"))
    for column in ("height_px", "width_px", "channels"):
        manifest[column] = pd.to_numeric(manifest[column]).astype("Int64")
    front = ["image_id", "status", "reason", "series", "timestamp", "session", "batch", "path", "file"]
    return manifest[front + [c for c in manifest.columns if c not in front]], checks


def _reject_repeats(manifest: pd.DataFrame) -> None:
    """Reject, in place, a second image of one series at one time, and a byte-identical copy of
    an image under another series or date. Either would enter growth as a timepoint of its own
    (a retake measured against its original; a copy as a day without growth). The earliest, then
    the first by path, is kept: a copy is filed under a later date than its original, and the
    choice does not depend on what else arrives later."""
    ok = manifest["status"] == ACCEPTED
    order = manifest[ok].sort_values(["timestamp", "path"])
    for columns, why in ((["series", "timestamp"], "same series and time as {} (a retake? keep one image per "
                          "series and time in input_dir, or put the time of day in the file names)"),
                         (["content_hash", "size_bytes"], "the same bytes as {} (a copy filed under another "
                          "series or date?)")):
        repeat = order.duplicated(columns, keep="first")
        first = order[~repeat].set_index(columns)["path"]
        kept = {i: first[tuple(k)] for i, k in zip(order.index[repeat],
                                                    order.loc[repeat, columns].itertuples(index=False))}
        if "content_hash" in columns:
            # The hash has 32 bits: among 100,000 same-size files one pair may share it by chance.
            kept = {i: f for i, f in kept.items() if filecmp.cmp(manifest.at[i, "path"], f, shallow=False)}
        if kept:
            rows = list(kept)
            manifest.loc[rows, "reason"] = [why.format(f) for f in kept.values()]
            manifest.loc[rows, ["status", "image_id"]] = [REJECTED, None]
            order = order.drop(index=rows)


def batch_table(manifest: pd.DataFrame, batch: str) -> pd.DataFrame:
    rows = manifest[manifest["batch"] == batch].sort_values("image_id")
    out = rows[BATCH_COLUMNS].copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return out


def write_outputs(manifest: pd.DataFrame, results_dir: str | Path) -> dict:
    """Write ``manifest.parquet`` and ``batches/{batch}.tsv``.

    A batch file is rewritten only when its content changes, and batch files
    of batches that no longer exist are removed.

    Returns
    -------
    dict
        ``written``, ``unchanged`` and ``removed`` batch names.
    """
    results_dir = Path(results_dir)
    batch_dir = results_dir / "batches"
    batch_dir.mkdir(parents=True, exist_ok=True)
    status = {"written": [], "unchanged": [], "removed": []}
    batches = sorted(manifest["batch"].dropna().unique())
    for batch in batches:
        text = batch_table(manifest, batch).to_csv(sep="\t", index=False)
        changed = write_text_if_changed(batch_dir / f"{batch}.tsv", text)
        status["written" if changed else "unchanged"].append(batch)
    for stale in sorted(set(p.stem for p in batch_dir.glob("*.tsv")) - set(batches)):
        (batch_dir / f"{stale}.tsv").unlink()
        status["removed"].append(stale)
    write_table(manifest, results_dir / "manifest.parquet")
    return status


def previous_batches(results_dir: str | Path) -> dict:
    """image_id -> batch, from the batch files the last ingest wrote (empty if none)."""
    found = {}
    for path in sorted(Path(results_dir, "batches").glob("*.tsv")):
        ids = pd.read_csv(path, sep="\t", usecols=["image_id"], dtype=str)["image_id"]
        found.update(dict.fromkeys(ids, path.stem))
    return found


def read_batch(path: str | Path) -> pd.DataFrame:
    """Read a batch list file written by :func:`write_outputs`."""
    return pd.read_csv(path, sep="\t", dtype={"image_id": str, "path": str, "series": str},
                       parse_dates=["timestamp"])


def run(config: dict, threads: int = 1, progress: bool = True) -> pd.DataFrame:
    """The ingest stage: build the manifest incrementally and write its outputs."""
    results_dir = Path(config["results_dir"])
    cache = results_dir / CHECKS_CACHE
    previous = read_checks_cache(cache, config["max_image_megapixels"])
    manifest, checks = _build(config, previous, threads, progress, batches=previous_batches(results_dir))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        checks.to_parquet(tmp, index=False)
    n_ok = int((manifest["status"] == ACCEPTED).sum())
    if not n_ok:
        reasons = manifest["reason"].value_counts()
        raise ValueError(f"no image of the {len(manifest)} in {config['input_dir']} was accepted; most common "
                         f"reason: {reasons.index[0]} ({reasons.iloc[0]} files)")
    status = write_outputs(manifest, results_dir)
    print(f"ingest: {len(manifest)} files, {n_ok} accepted, {len(manifest) - n_ok} rejected; "
          f"batches: {len(status['written'])} new or changed, {len(status['unchanged'])} unchanged, "
          f"{len(status['removed'])} removed")
    for row in manifest[manifest["status"] == REJECTED].itertuples():
        print(f"ingest: rejected {row.path}: {row.reason}")
    for warning in (mixed_bit_depths(manifest, config.get("bit_depth")),
                    close_images(manifest, config["series_fields"]),
                    partly_parsed(manifest, config["timestamp_format"])):
        if warning:
            print(f"ingest: warning: {warning}", flush=True)
    return manifest


def read_checks_cache(cache: Path, max_megapixels: float) -> pd.DataFrame | None:
    """The decode checks of the last run, or None when there are none to trust.

    A cache is only a saving: one that cannot be read (truncated by a full disk, say), or
    made by an earlier rootpipe or under another size limit, is set aside and every image
    checked again, once.
    """
    if not cache.exists():
        return None
    try:
        previous = pd.read_parquet(cache)
    except Exception as exc:  # pyarrow's errors for a damaged file are of several kinds
        print(f"ingest: the cache {cache} cannot be read ({str(exc).splitlines()[0][:200]}); checking every "
              "image again, once", flush=True)
        return None
    if not previous.get("check_version", pd.Series([0])).eq(CHECK_VERSION).all():
        print("ingest: the cached image checks were made by an earlier rootpipe; checking every image "
              "again, once", flush=True)
        return None
    if not previous.get("max_image_megapixels", pd.Series([None])).eq(max_megapixels).all():
        print("ingest: max_image_megapixels changed; checking every image again, once", flush=True)
        return None
    return previous


def partly_parsed(manifest: pd.DataFrame, timestamp_format: str | None) -> str | None:
    """A warning when ``timestamp_format`` read some names' timestamps and not others.

    A format with day and month swapped reads every name whose day is 12 or less, as the
    wrong date: those images are accepted, out of order, while the rest are rejected.
    """
    failed = manifest["reason"].fillna("").str.startswith("cannot parse timestamp")
    read = manifest[manifest["status"] == ACCEPTED]
    if not failed.any() or read.empty:
        return None
    example = read.iloc[0]
    return (f"timestamp_format {timestamp_format!r} could not read the timestamps of {int(failed.sum())} "
            f"names but read {len(read)}: if the format is wrong (day and month swapped, say), the ones "
            f"read may be wrong too (e.g. {example['file']} read as {example['timestamp']:%Y-%m-%d %H:%M})")


#: images of one series closer in time than this are more likely different plants or windows
CLOSE_MINUTES = 5


def close_images(manifest: pd.DataFrame, series_fields: list[str]) -> str | None:
    """A warning when a series has images minutes apart: usually a field missing from ``series_fields``.

    A minirhizotron tube's windows are imaged seconds apart; with the window left out of the
    series they become one series whose length jumps from window to window, read as growth
    rates of thousands of mm per day.
    """
    accepted = manifest[manifest["status"] == ACCEPTED].sort_values(["series", "timestamp"])
    gap = accepted.groupby("series")["timestamp"].diff()
    close = accepted[gap < pd.Timedelta(minutes=CLOSE_MINUTES)]
    if close.empty:
        return None
    first = close.iloc[0]
    return (f"{close['series'].nunique()} series have images less than {CLOSE_MINUTES} minutes apart (e.g. "
            f"{first['series']}: {first['file']}), each tracked as a timepoint of its own. If they show "
            f"different plants or windows, add the file-name field that tells them apart to series_fields "
            f"(now {series_fields}); if they are retakes, keep the better one in input_dir")


def mixed_bit_depths(manifest: pd.DataFrame, bit_depth: int | None) -> str | None:
    """A warning when images deeper than 8 bits were scaled from different bit depths.

    Without ``bit_depth`` each such image is scaled from the smallest even bit depth that
    holds its brightest value: a dim frame of a 14-bit camera reads as 12-bit, four times
    brighter than its neighbours in the series.
    """
    accepted = manifest[manifest["status"] == ACCEPTED]
    deep = pd.to_numeric(accepted["bit_depth"], errors="coerce")
    deep = deep[deep > 8]
    if bit_depth or deep.nunique() < 2:
        return None
    counts = deep.astype(int).value_counts().sort_index()
    dim = accepted.loc[deep[deep < counts.index.max()].index, "file"].iloc[0]
    return ("images deeper than 8 bits were scaled from different bit depths ("
            + ", ".join(f"{b} bits: {n} image(s)" for b, n in counts.items())
            + f", e.g. {dim} at {counts.index.min()} bits), so their brightness differs. Set bit_depth to "
            f"your camera's (e.g. bit_depth: {counts.index.max()}) so every image is scaled alike; "
            "batches already tiled are tiled again")
