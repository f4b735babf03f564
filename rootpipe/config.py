"""Campaign configuration: load, validate against the schema, fill defaults.

The same schema (``workflow/schemas/config.schema.yaml``) serves the Snakemake
workflow and the command line, so a stage run by hand sees the same defaults
as the stage run by a rule.
"""
from __future__ import annotations

import csv
import functools
import json
import math
import re
from pathlib import Path

import jsonschema
import yaml

from rootpipe.resources import workflow_root

#: RhizoVision Explorer's default diameter range edges, mm (rootpipe.io.rve keeps its format)
RVE_DIAMETER_RANGES_MM = (2.0, 5.0)

SCHEMA_PATH = workflow_root() / "workflow" / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that validating also fills defaults."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    # Copy: a shared mutable default would leak between configs.
                    instance[key] = json.loads(json.dumps(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (plain YAML keeps the last, silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ValueError(f"{key!r} is given twice (lines {seen[key]} and {key_node.start_mark.line + 1}); "
                                 "keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> dict:
    """A YAML config file as a dict; ValueError naming the file, line and fix if it is not valid YAML."""
    try:
        with open(path) as fh:
            config = yaml.load(fh, Loader=_UniqueKeyLoader) or {}
        if not isinstance(config, dict):
            raise ValueError("it holds no settings (expected lines such as `input_dir: images`)")
        return config
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        tab = " (indent with spaces: YAML refuses tabs)" if "\\t" in str(exc) else ""
        raise ValueError(f"config file {path} is not valid YAML{where}: "
                         f"{getattr(exc, 'problem', None) or exc}{tab}") from None
    except ValueError as exc:
        raise ValueError(f"config file {path}: {exc}") from None


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The config schema (parsed once per process; callers only read it)."""
    with open(SCHEMA_PATH) as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


#: most values (list items and keys, counted as written out) a config may hold; YAML aliases
#: can make a few lines stand for billions, which any message quoting them would spell out
MAX_CONFIG_ITEMS = 10_000


def check_values(config: dict) -> None:
    """Refuse non-finite numbers anywhere in ``config``, and structures too large to be settings.

    JSON Schema's ``minimum`` and ``maximum`` let NaN through (every comparison with it is
    false), and ``.inf`` passes a minimum: either would reach the tables as NaN or zeros.
    """
    sizes: dict[int, int] = {}

    def walk(value, path: str) -> int:
        if id(value) in sizes:  # an alias: counted as written out, walked once
            return sizes[id(value)]
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"invalid rootpipe configuration:\n  {path or '(top level)'}: {value} is not a "
                             "finite number; give a number such as 0.05")
        size = 1
        if isinstance(value, dict):
            size += sum(walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            size += sum(walk(v, f"{path}[{i}]") for i, v in enumerate(value))
        if size > MAX_CONFIG_ITEMS:
            raise ValueError(f"invalid rootpipe configuration:\n  {path or '(top level)'}: holds more than "
                             f"{MAX_CONFIG_ITEMS} values (YAML aliases repeated into each other?); a setting "
                             "is a number, a word or a short list")
        if isinstance(value, (dict, list)):
            sizes[id(value)] = size
        return size

    walk(config, "")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def validate(config: dict) -> dict:
    """Validate ``config`` in place, fill defaults, and return it.

    Raises
    ------
    ValueError
        Naming the offending key and what the schema expects (values quoted shortened).
    """
    check_values(config)
    schema = load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.path))
    if errors:
        lines = [f"  {'.'.join(map(str, e.path)) or '(top level)'}: {_short(e.message)}" for e in errors[:10]]
        lines += [f"  ... and {len(errors) - 10} more"] if len(errors) > 10 else []
        raise ValueError("invalid rootpipe configuration:\n" + "\n".join(lines))
    try:
        pattern = re.compile(config["filename_pattern"])
    except re.error as exc:
        raise ValueError(f"invalid rootpipe configuration:\n  filename_pattern: {config['filename_pattern']!r} "
                         f"is not a valid regular expression ({exc})") from None
    if pattern.groups > len(pattern.groupindex):
        raise ValueError(f"invalid rootpipe configuration:\n  filename_pattern: {config['filename_pattern']!r} "
                         "has groups without a name: name each field (?P<name>...), and write groups that are "
                         "not fields as (?:...)")
    if config["traits"]["diameter_classes_mm"] == "rve":  # the preset: RhizoVision Explorer's default ranges
        config["traits"]["diameter_classes_mm"] = list(RVE_DIAMETER_RANGES_MM)
    edges = config["traits"]["diameter_classes_mm"]
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"invalid rootpipe configuration:\n  traits.diameter_classes_mm: {edges} must increase "
                         "(class edges in mm, e.g. [0.5, 1.0, 2.0])")
    segment = config["segment"]
    if (segment["centreline_threshold"] is not None and segment["threshold"] is not None  # null: the model's
            and segment["centreline_threshold"] >= segment["threshold"]):
        raise ValueError(f"invalid rootpipe configuration:\n  segment.centreline_threshold: "
                         f"{segment['centreline_threshold']} must be below segment.threshold "
                         f"({segment['threshold']}), or null to turn it off")
    return config


def check_filename_fields(config: dict) -> None:
    """Refuse series or timestamp fields that are not named groups of ``filename_pattern``.

    A check of the whole campaign config, not of :func:`validate`: a stage gets only its slice,
    where the pattern is the default but the fields are the campaign's.
    """
    from rootpipe.columns import MANIFEST_COLUMNS, RESULT_COLUMNS

    groups = re.compile(config["filename_pattern"]).groupindex
    taken = [g for g in groups if g in {*MANIFEST_COLUMNS, *RESULT_COLUMNS}]
    if taken:  # the field would be overwritten by rootpipe's own column, or shadow a result
        raise ValueError(f"invalid rootpipe configuration:\n  filename_pattern names group(s) {taken} like "
                         f"columns rootpipe fills itself; rename them (e.g. (?P<{taken[0]}_id>...) or "
                         "(?P<date>...)) and the fields that use them")
    missing = [f for f in [*config["series_fields"], *config["timestamp_fields"]] if f not in groups]
    if missing:
        raise ValueError(f"invalid rootpipe configuration:\n  filename_pattern has no named group for "
                         f"{missing} (series_fields and timestamp_fields name its groups); its groups are "
                         f"{list(groups)}")


def check_input_dir(input_dir: str | Path) -> Path:
    """``input_dir`` as a Path; FileNotFoundError saying what to set if it is not a folder."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        relative = "" if input_dir.is_absolute() else (f" ({input_dir.absolute()}: relative paths start "
                                                       "from the folder the run starts in)")
        raise FileNotFoundError(f"input_dir {input_dir}{relative} is not a folder: set input_dir in the config "
                                "to the folder that holds the campaign's images")
    return input_dir


def check_campaign(config: dict) -> dict:
    """The checks of a whole campaign config, as a run starts: :func:`validate` (filling defaults in
    place), the file-name fields, the pixel size. Returns ``config``.

    Before defaults are filled, ``pixel_size_mm`` and ``dpi`` both set is a contradiction (after, the
    default ``pixel_size_mm`` would always be there).
    """
    if config.get("dpi") and config.get("pixel_size_mm") is not None:
        raise ValueError(f"invalid rootpipe configuration:\n  both pixel_size_mm ({config['pixel_size_mm']}) "
                         f"and dpi ({config['dpi']}) are set; keep one and set the other to null")
    validate(config)
    check_filename_fields(config)
    pixel_size_mm(config)
    check_group_by(config)
    return config


def check_group_by(config: dict) -> None:
    """Refuse ``track.group_by`` names that are neither file-name fields nor metadata_csv columns.

    Track checks this too, but only after every image is segmented; a typo is caught here
    from the metadata table's header alone.
    """
    group_by = config["track"].get("group_by") or []
    metadata_csv = config.get("metadata_csv")
    if not group_by or (metadata_csv and not Path(metadata_csv).is_file()):
        return  # a missing metadata table gets ingest's own message
    timing = {*config.get("timestamp_fields", []), "series"}
    known = {*re.compile(config["filename_pattern"]).groupindex} - timing
    columns = []
    if metadata_csv:
        with open(metadata_csv, newline="", encoding="utf-8-sig", errors="replace") as fh:
            columns = [c.strip() for c in next(csv.reader(fh), [])]
    timed = [c for c in group_by if c in timing]
    if timed:  # each series would be a group of its own, or a group change with the date
        raise ValueError(f"invalid rootpipe configuration:\n  track.group_by names {timed}: the series name "
                         "and the timestamp fields cannot group series; name metadata such as genotype or "
                         "treatment")
    unknown = [c for c in group_by if c not in known | set(columns)]
    if unknown:
        raise ValueError(f"invalid rootpipe configuration:\n  track.group_by names {unknown}, which are neither "
                         f"file-name fields {sorted(known)} nor columns of metadata_csv {columns}")


def load(source: str | Path | dict | None) -> dict:
    """Load a configuration from a YAML file, an inline JSON object, or a dict.

    ``None`` gives the defaults alone. Inline JSON lets a Snakemake rule pass
    exactly the configuration slice its output depends on.
    """
    if source is None:
        config = {}
    elif isinstance(source, dict):
        config = json.loads(json.dumps(source))
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        config = json.loads(source)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        config = read_yaml(path)
    return validate(config)


def pixel_size_mm(config: dict) -> float:
    """The campaign's pixel size in mm per pixel, from ``pixel_size_mm`` or ``dpi``."""
    if config.get("dpi"):
        return 25.4 / float(config["dpi"])
    if config.get("pixel_size_mm"):
        return float(config["pixel_size_mm"])
    raise ValueError("set pixel_size_mm (mm per pixel) or dpi in the config")
