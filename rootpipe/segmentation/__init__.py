"""Segmentation methods, below the segment stage: the U-Net checkpoint format
(:mod:`.checkpoint`), tiled inference (:mod:`.tiling`, :mod:`.unet`), the
classical ridge filter (:mod:`.classical`) and per-image confidence
(:mod:`.confidence`). Nothing here reads or writes a store.
"""
