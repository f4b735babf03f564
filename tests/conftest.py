from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    """Figures a test draws and does not save are closed after it (pyplot keeps every open one)."""
    yield
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def load_benchmark(name: str):
    """The module of ``benchmarks/{name}.py``, imported as a script runs (its folder on sys.path)."""
    import importlib.util
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    sys.path.insert(0, str(script.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(script.parent))
    return module


def write_png(path, array):
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return Path(path)


def write_jpeg(path, array, quality=90):
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=quality)
    return Path(path)


@pytest.fixture
def bad_files():
    """Writers of the three kinds of bad input a campaign folder really gets."""

    def make(folder, stem_zero, stem_truncated, stem_text):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem_zero}.png").write_bytes(b"")
        good = write_jpeg(folder / f"{stem_truncated}.jpg",
                          np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        data = good.read_bytes()
        good.write_bytes(data[: len(data) // 2])
        (folder / f"{stem_text}.png").write_text("this is not an image\n")
        return {"zero": f"{stem_zero}.png", "truncated": f"{stem_truncated}.jpg", "text": f"{stem_text}.png"}

    return make
