import numpy as np
import pytest
import torch
from conftest import write_png

from rootpipe.learn.annotations import UNLABELLED, load_labels, pairs_from_folder
from rootpipe.learn.augment import augment
from rootpipe.learn.losses import masked_loss, skeleton_recall_loss
from rootpipe.learn.metrics import scores
from rootpipe.learn.train import SKELETON, mark_skeleton, train
from rootpipe.segmentation import checkpoint


def test_unlabelled_pixels_carry_no_loss():
    logits = torch.randn(1, 1, 16, 16, requires_grad=True)
    target = torch.zeros(1, 1, 16, 16)
    valid = torch.zeros(1, 1, 16, 16)
    valid[..., :4, :] = 1  # only the top rows are labelled
    masked_loss(logits, target, valid).backward()
    assert logits.grad[..., 4:, :].abs().max() == 0
    assert logits.grad[..., :4, :].abs().max() > 0


def test_rootpainter_annotation_colours(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[2:5, :, 0], rgba[2:5, :, 3] = 255, 180   # red: root
    rgba[10:12, :, 1], rgba[10:12, :, 3] = 255, 180  # green: background
    labels = load_labels(write_png(tmp_path / "a.png", rgba), "rootpainter", (20, 30))
    assert (labels[2:5] == 1).all() and (labels[10:12] == 0).all() and (labels[15:] == UNLABELLED).all()


def test_scores_ignore_unlabelled():
    labels = np.full((10, 10), UNLABELLED, np.uint8)
    labels[0, :5], labels[1, :5] = 1, 0
    pred = np.zeros((10, 10), bool)
    pred[0, :5] = True
    pred[5:] = True  # predictions where nobody labelled: not an error
    s = scores(pred, labels)
    assert s["f1"] == 1.0 and s["precision"] == 1.0


def _vertical_root(x0, x1, brightness):
    """A 300 x 300 px dark image with a bright vertical root over columns x0:x1, and its labels."""
    rgb = np.zeros((300, 300, 3), np.uint8)
    labels = np.zeros((300, 300), np.uint8)
    rgb[:, x0:x1] = brightness
    labels[:, x0:x1] = 1
    return rgb, labels


def test_augment_keeps_image_and_labels_aligned():
    rng = np.random.default_rng(0)
    rgb, labels = _vertical_root(140, 160, 250)
    for _ in range(10):
        img, lab = augment(rgb, labels, rng, 128)
        assert img.shape == (128, 128, 3) and lab.shape == (128, 128)
        if (lab == 1).any():
            assert img[lab == 1].mean() > img[lab == 0].mean() + 100


def test_light_augmentation_keeps_native_scale_and_mild_colour():
    # A 20 px wide vertical root; light tiles must show it exactly 20 px wide
    # (no resampling) and barely change its brightness.
    rng = np.random.default_rng(1)
    rgb = np.full((300, 300, 3), 60, np.uint8)
    labels = np.zeros((300, 300), np.uint8)
    rgb[:, 140:160] = 200
    labels[:, 140:160] = 1
    widths = []
    for _ in range(40):
        img, lab = augment(rgb, labels, rng, 128, centre=(150, 150), strength="light")
        assert img.shape == (128, 128, 3) and lab.shape == (128, 128)
        root = lab == 1
        assert abs(float(img[root].mean()) - 200) <= 200 * 0.1 + 12 + 1
        assert abs(float(img[~root].mean()) - 60) <= 60 * 0.1 + 12 + 1
        across = root.all(axis=0) if root.all(axis=0).any() else root.all(axis=1)  # after a 90° turn
        if not across[0] and not across[-1]:  # the whole root width lies inside the tile
            widths.append(int(across.sum()))
    assert len(widths) > 5 and set(widths) == {20}


def test_training_on_sparse_rootpainter_labels_runs_and_keeps_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        img = rng.integers(40, 90, (96, 128, 3), dtype=np.uint8)
        img[:, 60:66] = 220
        ann = np.zeros((96, 128, 4), np.uint8)
        ann[10:80, 61:65, 0], ann[10:80, 61:65, 3] = 255, 255   # a few root strokes
        ann[10:80, 10:20, 1], ann[10:80, 10:20, 3] = 255, 255   # some background
        write_png(tmp_path / "images" / f"im{i}.png", img)
        write_png(tmp_path / "masks" / f"im{i}.png", ann)
    pairs = pairs_from_folder(tmp_path, "rootpainter")
    out = tmp_path / "model.safetensors"
    header = train(pairs.iloc[:2], pairs.iloc[2:], out, epochs=1, steps_per_epoch=2, batch=2, tile=64,
                   progress=False, model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]})
    assert out.exists() and header["scores"]["epoch"] == 1
    model, loaded = checkpoint.load(out)
    assert loaded["model_kwargs"]["decoder_channels"] == [32, 16, 16, 8, 8]
    assert loaded["training"]["n_train_images"] == 2


def _thick_and_thin_roots():
    labels = np.zeros((64, 96), np.uint8)
    labels[8:56, 10:30] = 1   # a thick root, 20 px wide, 48 px long
    labels[8:56, 70] = 1      # a fine root, 1 px wide, as long
    labels[:, 90:] = UNLABELLED
    return labels


def test_skeleton_marks_centre_lines_inside_roots_only():
    labels = _thick_and_thin_roots()
    marked = mark_skeleton(labels)
    skeleton = marked == SKELETON
    assert (marked[labels != 1] == labels[labels != 1]).all()   # background and unlabelled untouched
    assert skeleton[:, 70].sum() >= 40                           # the fine root is all centre-line
    thick = skeleton[:, 10:30]
    assert 0 < thick.sum() < 0.1 * (labels[:, 10:30] == 1).sum()  # the thick one: a thin line in it
    assert set(np.flatnonzero(thick.any(axis=0)) + 10) <= set(range(18, 22))  # near its middle (col 19.5)


def test_skeleton_recall_counts_a_missed_fine_root_by_length():
    labels = mark_skeleton(_thick_and_thin_roots())
    target = torch.from_numpy(np.isin(labels, (1, SKELETON))).float()[None, None]
    valid = torch.from_numpy(labels != UNLABELLED).float()[None, None]
    found_thick_only = torch.full(target.shape, -10.0)
    found_thick_only[..., 8:56, 10:30] = 10.0
    skeleton = torch.from_numpy(labels == SKELETON).float()[None, None]
    # By area the fine root is 5 % of the roots: the pixel loss barely sees it missing ...
    assert masked_loss(found_thick_only, target, valid) < 0.15
    # ... by centre-line it is about half of the root length.
    assert 0.35 < skeleton_recall_loss(found_thick_only, skeleton) < 0.65
    assert skeleton_recall_loss(torch.where(target > 0, 10.0, -10.0), skeleton) < 0.01


def _stripe_pairs(tmp_path, seed):
    """Three noisy images with one bright vertical root and its full mask, as a pairs table."""
    rng = np.random.default_rng(seed)
    for i in range(3):
        img = rng.integers(40, 90, (96, 128, 3), dtype=np.uint8)
        img[:, 60:66] = 220
        mask = np.zeros((96, 128), np.uint8)
        mask[:, 60:66] = 255
        write_png(tmp_path / "images" / f"im{i}.png", img)
        write_png(tmp_path / "masks" / f"im{i}.png", mask)
    pairs = pairs_from_folder(tmp_path, "mask")
    return pairs


def test_training_with_the_skeleton_term_runs_and_records_it(tmp_path):
    pairs = _stripe_pairs(tmp_path, seed=1)
    out = tmp_path / "model.safetensors"
    train(pairs.iloc[:2], pairs.iloc[2:], out, epochs=1, steps_per_epoch=2, batch=2, tile=64, skeleton_weight=1.0,
          progress=False, model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]})
    assert checkpoint.load(out)[1]["training"]["skeleton_weight"] == 1.0
    assert "threshold" not in checkpoint.read_header(out)  # none picked unless asked


def test_training_with_pick_threshold_records_a_threshold_its_validation_scored(tmp_path):
    pairs = _stripe_pairs(tmp_path, seed=2)
    out = tmp_path / "model.safetensors"
    header = train(pairs.iloc[:2], pairs.iloc[2:], out, epochs=1, steps_per_epoch=2, batch=2, tile=64,
                   progress=False, model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]}, choose_threshold=True)
    by_threshold = header["scores"]["validation_f1_by_threshold"]
    assert header["threshold"] == checkpoint.read_header(out)["threshold"]
    assert by_threshold[f"{header['threshold']:g}"] == max(by_threshold.values())
    assert sorted(by_threshold) == ["0.5", "0.6", "0.7", "0.8", "0.9"]


def test_full_augmentation_shows_some_tiles_in_grey():
    # Grey scans (flatbed, NIR cameras) must look like something the shipped model has seen.
    rng = np.random.default_rng(2)
    rgb = np.zeros((300, 300, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 120, 80, 40  # brown soil
    labels = np.zeros((300, 300), np.uint8)
    grey = 0
    for _ in range(200):
        img, _ = augment(rgb, labels, rng, 64)
        i = img.astype(int)
        grey += int(np.abs(i[..., 0] - i[..., 2]).mean() < 12)  # noise may differ per channel
    assert 30 <= grey <= 80


def test_full_augmentation_puts_labels_on_the_image_to_the_pixel():
    # A 4 px root across a dark tile: where the image is bright, the label must be too, under
    # every scale, turn and flip (nearest-neighbour label resizing once put it half a pixel off).
    rng = np.random.default_rng(3)
    rgb, labels = _vertical_root(148, 152, 255)
    offsets = []
    for _ in range(200):
        img, lab = augment(rgb, labels, rng, 64, centre=(150, 150))
        grey = img.astype(np.float32).mean(axis=-1)
        along = 0 if lab.all(axis=0).any() else 1  # the root runs down the columns or along the rows
        weights = grey.mean(axis=along) - np.median(grey)
        weights = np.clip(weights, 0, None)
        position = np.arange(64)
        if weights.sum() > 0 and lab.any():
            image_centre = np.sum(position * weights) / weights.sum()
            label_centre = position[lab.mean(axis=along) > 0.5].mean()
            offsets.append(label_centre - image_centre)
    assert len(offsets) > 150 and np.mean(np.abs(offsets)) < 0.3


def test_length_agreement_reads_bias_in_its_identity_r2():
    from rootpipe.learn.evaluate import length_agreement

    annotated = np.array([100.0, 200, 300, 400, 500])
    halved = length_agreement(0.5 * annotated, annotated)
    assert halved["length_r2"] == pytest.approx(1.0) and halved["length_slope"] == pytest.approx(0.5)
    assert halved["length_r2_identity"] < 0.5
    assert length_agreement(annotated + 1, annotated)["length_r2_identity"] == pytest.approx(1 - 5 / 1e5)


def test_a_fine_tune_that_never_beats_its_start_keeps_the_init_model(tmp_path, capsys):
    pairs = _stripe_pairs(tmp_path, seed=2)
    small = {"decoder_channels": [32, 16, 16, 8, 8]}
    start = tmp_path / "start.safetensors"
    train(pairs.iloc[:2], pairs.iloc[2:], start, epochs=2, steps_per_epoch=15, batch=4, tile=64, lr=3e-3,
          progress=False, model_kwargs=small)
    start_f1 = checkpoint.read_header(start)["scores"]["validation"]["f1"]
    assert start_f1 > 0.5  # a bright stripe: learnt
    out = tmp_path / "tuned.safetensors"
    header = train(pairs.iloc[:2], pairs.iloc[2:], out, init=str(start), epochs=1, steps_per_epoch=3, batch=4,
                   tile=64, lr=50.0, progress=False)  # a learning rate that wrecks the weights
    assert header["scores"]["epoch"] == 0 and header["scores"]["validation"]["f1"] == start_f1
    assert "no epoch beat the --init model's validation F1" in capsys.readouterr().out
    before, after = checkpoint.load(start)[0].state_dict(), checkpoint.load(out)[0].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_lab_augmentation_spans_half_to_double_scale_and_keeps_labels_aligned():
    # A 8 px root: at 0.5-2x its label is 4-16 px wide, and the image stays bright where the label is.
    rng = np.random.default_rng(4)
    rgb, labels = _vertical_root(146, 154, 230)
    widths = []
    for _ in range(300):
        img, lab = augment(rgb, labels, rng, 64, centre=(150, 150), strength="lab")
        assert img.shape == (64, 64, 3) and lab.shape == (64, 64)
        root = lab == 1
        across = root.all(axis=0) if root.all(axis=0).any() else root.all(axis=1)
        if across.any() and not across[0] and not across[-1]:
            widths.append(int(across.sum()))
            grey = img.astype(np.float32).mean(axis=-1)
            assert grey[root].mean() > grey[~root].mean()
    assert min(widths) <= 5 and max(widths) >= 14


def test_lab_jitter_makes_grey_and_jpeg_blocky_tiles_but_never_changes_the_shape():
    from rootpipe.learn.augment import lab_jitter

    rng = np.random.default_rng(5)
    rgb = np.zeros((96, 96, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 120, 80, 40
    grey = 0
    for _ in range(200):
        out = lab_jitter(rgb, rng)
        assert out.shape == rgb.shape and out.dtype == np.uint8
        i = out.astype(int)
        grey += int(np.abs(i[..., 0] - i[..., 2]).mean() < 12)
    assert 25 <= grey <= 90


def test_sampling_weights_draw_each_dataset_equally_whatever_its_size():
    from rootpipe.learn.train import sampling_weights

    data = [(None, np.zeros((10, 10)))] * 9 + [(None, np.zeros((10, 40)))]
    w = sampling_weights(data, ["big"] * 9 + ["small"])
    assert w.sum() == pytest.approx(1.0)
    assert w[9] == pytest.approx(0.5) and w[:9] == pytest.approx(np.full(9, 0.5 / 9))
    plain = sampling_weights(data, None)  # one set: by area
    assert plain[9] == pytest.approx(4 * plain[0])
    fixed = sampling_weights(data, ["big"] * 9 + ["synthetic"], {"synthetic": 0.1})
    assert fixed[9] == pytest.approx(0.1) and fixed[:9].sum() == pytest.approx(0.9)


def test_lab_fraction_leaves_the_other_tiles_light():
    rng = np.random.default_rng(6)
    rgb = np.zeros((300, 300, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 120, 80, 40
    labels = np.zeros((300, 300), np.uint8)
    colour_kept = 0
    for _ in range(200):
        img, _ = augment(rgb, labels, rng, 64, strength="lab", lab_fraction=0.5)
        i = img.astype(float).reshape(-1, 3).mean(axis=0)
        # light jitter scales and shifts all channels alike: red minus blue stays 80 +- 10 % + 0
        colour_kept += int(abs((i[0] - i[2]) - 80) <= 8.5)
    assert 70 <= colour_kept <= 140


def test_centreline_band_leaves_the_pixels_beside_a_polyline_unlabelled():
    from rootpipe.learn.metrics import centreline_band

    labels = np.zeros((40, 40), np.uint8)
    labels[:, 18:22] = 1  # a 4 px stroke drawn on a centre-line
    out = centreline_band(labels, 3)
    assert (out[:, 18:22] == 1).all()
    assert (out[:, 15:18] == UNLABELLED).all() and (out[:, 22:25] == UNLABELLED).all()
    assert (out[:, :14] == 0).all() and (out[:, 26:] == 0).all()
