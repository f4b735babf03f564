"""Synthetic minirhizotron campaigns with exact ground truth.

A campaign is a set of *series* (one window of one tube), each imaged at
``n_timepoints`` dates.  Every series holds one branching root system whose
full, final geometry is generated once; each timepoint shows the part of it
that has grown by then.  Images are rendered as light roots over a brown,
grainy soil with uneven illumination, optical blur, sensor noise and a small
camera shift per visit, so that they are a fair test for segmentation and for
the growth statistics further down the pipeline.

Because the geometry is known, the ground truth is exact: a binary root mask
per image (the rendered root region), the end-to-end length of every root
at every timepoint, and the camera shift applied to each image.

Modules: :mod:`.geometry` (root systems growing over time, exact lengths),
:mod:`.render` (soil, light, camera and roots drawn), :mod:`.campaign`
(series, visits and the files on disk).

Layout written by :func:`make_campaign`::

    out_dir/
        metadata.csv                      tube, window, genotype, treatment
        images/{tube}_{window}_{date}.png RGB, 8 bit
        truth/{tube}_{window}_{date}.png  mask, uint8, 0 = soil, 255 = root
        truth/lengths.csv                 one row per image
        truth/roots.csv                   one row per root per image

Lengths are end to end along each root's axis (``length_px``, summed per
image into ``true_length_px``): the centre-line plus the rounded apex, and the
rounded base of a primary; ``centreline_length_px`` is the centre-line alone.

Conventions
-----------
* Coordinates are pixels, ``x`` to the right and ``y`` down; a pixel's centre
  is at its integer index.
* Time is in days since the first timepoint.
* A camera shift ``(shift_y_px, shift_x_px)`` means that scene content seen at
  ``(y, x)`` in the first image of a series is seen at
  ``(y + shift_y_px, x + shift_x_px)`` in this one.
* Growth depends on the group: ``mutA`` laterals grow at
  ``MUTANT_LATERAL_RATE`` times the wild-type rate, and every root under
  ``drought`` at ``DROUGHT_RATE`` times. The treatment effect on a series'
  root length is not those factors alone: slower laterals emerge too late for
  the campaign more often, and the geometry drawn after them differs (drought
  over control for eight series of one seed: 0.70-1.03 of the length at the
  last visit, mean 0.81).

Everything is deterministic for a given ``seed``: the same arguments give the
same bytes on disk.  Each series and each timepoint draws from its own random
stream, so the root geometry of a series does not depend on ``n_series``,
``n_timepoints`` or ``p_disappear``.
"""
from rootpipe.synthetic.campaign import FILENAME_PATTERN, generate_campaign, make_campaign
from rootpipe.synthetic.geometry import MARGIN_PX, Root, make_root_system, visible_lengths
from rootpipe.synthetic.render import MAX_SHIFT_PX

__all__ = [
    "FILENAME_PATTERN",
    "MARGIN_PX",
    "MAX_SHIFT_PX",
    "Root",
    "generate_campaign",
    "make_campaign",
    "make_root_system",
    "visible_lengths",
]
