"""Training and scoring segmentation models: annotated pairs (:mod:`.annotations`),
training (:mod:`.train`) and evaluation against annotations (:mod:`.evaluate`).
"""
