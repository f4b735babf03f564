"""``rootpipe view IMAGE_ID``: an image, its root probability and its mask in napari, in mm.

:func:`layers` gives napari's layer data (data, keyword arguments, layer type) without importing
napari, so the layers can be built and checked anywhere; :func:`view` opens them in napari's
window (``pip install napari[all]``, or ``pip install 'rootpipe[view]'`` and a Qt binding).
The stores are OME-Zarr too: napari-ome-zarr opens ``images/{batch}.zarr`` directly.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import zarr

from rootpipe.io.stores import checked, level_names, mask_array, pixel_size_of


def batch_of(results_dir: str | Path, image_id: str) -> str:
    """The batch an accepted image was processed in (ValueError naming the image otherwise)."""
    manifest = pd.read_parquet(Path(results_dir) / "manifest.parquet", columns=["image_id", "batch", "status"])
    row = manifest[(manifest["image_id"] == image_id) & (manifest["status"] == "accepted")]
    if row.empty:
        known = manifest.loc[manifest["status"] == "accepted", "image_id"].head(3).tolist()
        raise ValueError(f"{image_id} is not an accepted image of {results_dir} (image_id as in traits.csv, "
                         f"e.g. {', '.join(known)})")
    return str(row["batch"].iloc[0])


def layers(results_dir: str | Path, image_id: str) -> list[tuple]:
    """napari LayerData tuples for one image: the RGB pyramid, the probability and the mask, in mm."""
    import dask.array as da

    results_dir = Path(results_dir)
    batch = batch_of(results_dir, image_id)
    images_store = results_dir / "images" / f"{batch}.zarr"
    image = zarr.open_group(images_store, mode="r")[image_id]
    pyramid = [da.from_zarr(checked(image[name], images_store, image_id)).transpose(1, 2, 0)
               for name in level_names(image)]
    px = pixel_size_of(image)
    seg_store = results_dir / "segmentation" / f"{batch}.zarr"
    seg = zarr.open_group(seg_store, mode="r")[image_id]
    probability = da.from_zarr(checked(seg["probability"], seg_store, image_id))
    mask = da.from_zarr(checked(mask_array(seg), seg_store, image_id))
    common = {"scale": (px, px), "units": ("mm", "mm")}
    return [(pyramid, {"name": image_id, "rgb": True, "multiscale": len(pyramid) > 1, **common}, "image"),
            (probability, {"name": "root probability", "colormap": "magma", "contrast_limits": (0, 255),
                           "opacity": 0.6, "visible": False, **common}, "image"),
            (mask, {"name": "mask", "opacity": 0.5, **common}, "labels")]


def view(results_dir: str | Path, image_id: str) -> None:
    """Open the image's layers in a napari window (blocks until it is closed)."""
    try:
        import napari
    except ImportError:
        raise ValueError("rootpipe view needs napari with a Qt binding: pip install 'napari[all]'") from None
    viewer = napari.Viewer(title=f"rootpipe: {image_id}")
    for data, kwargs, kind in layers(results_dir, image_id):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    viewer.scale_bar.visible = True
    viewer.scale_bar.unit = "mm"
    napari.run()


def open_annotations(folder: str | Path, image_id: str | None = None) -> None:
    """Open an exported pair (``rootpipe annotate export``) in napari: the image and its mask as an
    editable labels layer; when the window is closed, a changed mask is written back to
    ``pairs/masks`` (a correction that ``rootpipe annotate import`` then trains on)."""
    import numpy as np

    from rootpipe.learn.annotate import open_in_napari, save_labels

    try:
        import napari
    except ImportError:
        raise ValueError("rootpipe annotate open needs napari with a Qt binding: pip install 'napari[all]'; "
                         f"without it, edit the masks in {Path(folder) / 'pairs' / 'masks'} with any paint "
                         "program (white = root)") from None
    viewer = napari.Viewer(title="rootpipe: correct the mask (paint root with label 1, erase with 0)")
    labels = open_in_napari(viewer, folder, image_id)
    before = np.array(labels.data, copy=True)
    napari.run()
    if not np.array_equal(before > 0, np.asarray(labels.data) > 0):
        print(f"annotate: saved {save_labels(labels, folder, labels.name.removesuffix(' mask'))}")
