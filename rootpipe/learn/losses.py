"""Training losses over labelled pixels only: BCE + soft Dice, and centre-line (skeleton) recall.
"""
from __future__ import annotations


def masked_loss(logits, target, valid):
    """BCE + soft Dice over labelled pixels only (``valid`` = 1); unlabelled pixels add nothing."""
    import torch
    import torch.nn.functional as F

    n = valid.sum().clamp(min=1.0)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * valid).sum() / n
    p = torch.sigmoid(logits) * valid
    t = target * valid
    dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return bce + dice


def skeleton_recall_loss(logits, skeleton):
    """1 - soft recall of the annotated centre-lines (skeleton recall, Kirchhoff et al. 2024).

    Each pixel of a root's centre-line weighs the same whatever the outline's width, so a faint
    fine root the network misses costs in proportion to its length, not its (small) area.
    """
    import torch

    p = torch.sigmoid(logits)
    return 1 - ((p * skeleton).sum() + 1) / (skeleton.sum() + 1)
