"""Everything that touches disk in a fixed format: atomic writes (:mod:`.atomic`),
image decoding (:mod:`.decode`), the image and segmentation zarr stores, the one
place that knows their layout (:mod:`.stores`), RSML (:mod:`.rsml`) and
RhizoVision Explorer CSV (:mod:`.rve`).
"""
