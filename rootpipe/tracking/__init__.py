"""Time series of one series' images: root identity across timepoints
(:mod:`.identity`).
"""
