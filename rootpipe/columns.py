"""Column names of rootpipe's tables, in a module that imports nothing.

Ingest checks metadata column names against them; importing traits or track for
that would load numba and OpenCV into every ingest run (0.8 s).
"""

#: per-image traits (traits.measure), before the per-diameter-class columns
BASE_TRAIT_KEYS = [
    "total_length_mm", "mean_diameter_mm", "median_diameter_mm",
    "max_diameter_mm", "n_tips", "n_branch_points", "network_area_mm2",
    "n_components", "branching_frequency_per_mm", "surface_area_mm2",
    "volume_mm3", "depth_mm", "width_mm", "convex_hull_area_mm2",
    "projected_area_mm2", "perimeter_mm", "solidity", "width_depth_ratio",
    "root_length_density_mm_per_mm2", "mean_orientation_deg",
    "shallow_angle_fraction", "medium_angle_fraction",
    "steep_angle_fraction",
]

#: per-image quality columns of the traits table beside the traits (segmentation confidence)
QC_COLUMNS = ["segmentation_confidence"]

#: growth table of the track stage, one row per series and image
GROWTH_COLUMNS = [
    "series", "timepoint", "image_id", "timestamp", "days", "total_length_mm",
    "length_change_mm", "growth_rate_mm_per_day", "length_gained_mm", "length_lost_mm",
    "n_tips", "n_new_tips", "root_length_density_mm_per_mm2",
    "shift_y_px", "shift_x_px", "registration_quality", "registration_ok", "note",
]

#: roots table of the track stage, one row per root and image
ROOT_COLUMNS = ["series", "root_id", "timepoint", "image_id", "timestamp", "length_mm", "first_seen",
                "last_seen", "elongation_rate_mm_per_day"]

#: columns the track stage adds beside GROWTH_COLUMNS (growth, summary)
TRACK_ADDED_COLUMNS = ["file", "imaging_round", "total_length_smoothed_mm", "n_series"]

#: growth quantities growth_summary averages over series, and its columns for each
SUMMARY_QUANTITIES = ["total_length_mm", "growth_rate_mm_per_day", "length_gained_mm", "length_lost_mm"]
SUMMARY_STATISTICS = ["n", "mean", "ci95_low", "ci95_high"]
SUMMARY_COLUMNS = [f"{q}_{s}" for q in SUMMARY_QUANTITIES for s in SUMMARY_STATISTICS]

#: column names rootpipe writes into its result tables (traits, growth, roots, summary)
RESULT_COLUMNS = {*BASE_TRAIT_KEYS, *QC_COLUMNS, *GROWTH_COLUMNS, *ROOT_COLUMNS, *TRACK_ADDED_COLUMNS, *SUMMARY_COLUMNS}

#: manifest columns rootpipe fills itself, ingest's CHECK_COLUMNS included (file-name fields
#: must not take these names; metadata tables join on series and session only)
MANIFEST_COLUMNS = [
    "image_id", "status", "reason", "series", "timestamp", "session", "batch", "path", "file",
    "size_bytes", "mtime_ns", "content_hash", "height_px", "width_px", "channels", "dtype", "bit_depth",
]


# Per diameter class: (key prefix, total it sums to).
CLASS_QUANTITIES = (
    ("length_mm", "total_length_mm"),
    ("projected_area_mm2", "projected_area_mm2"),
    ("surface_area_mm2", "surface_area_mm2"),
    ("volume_mm3", "volume_mm3"),
)
