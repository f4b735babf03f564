"""Root length of masks drawn from real RSML annotations (TILLMore barley).

Runs ``benchmarks/tillmore_length.py`` on a handful of images; skips when
``../shared/data`` is absent. The whole set's numbers are in docs/traits.md.
"""

from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not (DATA / "pairs.csv").exists(), reason="shared data folder absent"),
]


def test_reads_every_kind_of_tillmore_file():
    from rootpipe.io import rsml

    for path in sorted((DATA / "tillmore").glob("*/rsml/*.rsml"))[:3]:
        roots = rsml.read_rsml(path)
        control = rsml.read_rsml(path, splines="control")
        assert len(roots) == len(control) > 0
        for r, c in zip(roots, control):
            assert r.yx.shape[0] >= c.yx.shape[0]
            # the sampled spline passes through its control points
            assert np.allclose(r.yx[0], c.yx[0]) and np.allclose(r.yx[-1], c.yx[-1])


def test_length_of_rendered_annotations():
    module = load_benchmark("tillmore_length")
    table, summary = module.run(DATA, limit=5)
    assert len(table) == 5
    visible = summary.set_index("truth").loc["visible"]
    assert abs(visible["bias_pct"]) <= 3.0
    assert visible["R2"] >= 0.98
    # Against the raw annotation the mask loses the overlaps: shorter.
    assert (table["measured_px"] < table["polyline_px"]).all()


def test_wider_strokes_merge_roots_running_together():
    module = load_benchmark("tillmore_length")
    table = module.width_ceiling(DATA, "test", [4.0, 16.0]).set_index("stroke px")
    # the 4 px strokes against themselves: the same lengths
    assert table.loc[4.0, "length slope"] == pytest.approx(1.0)
    assert table.loc[4.0, "length R² about 1:1"] == pytest.approx(1.0)
    # at 16 px, roots that run side by side merge into one line: lengths fall short
    assert table.loc[16.0, "length slope"] < 0.95
    assert table.loc[16.0, "lowest ratio"] < table.loc[4.0, "lowest ratio"]
