"""examples/five_modes.py: every mode's tiny model learns its toy task."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "five_modes.py"


@pytest.fixture(scope="module")
def five_modes():
    spec = importlib.util.spec_from_file_location("five_modes", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mode_learns(five_modes):
    results = five_modes.run(epochs=8, n=128, verbose=False)
    assert list(results) == [name for name, _ in five_modes.MODES]
    for name, (before, after) in results.items():
        assert after < 0.5 * before, f"{name}: loss {before:.4f} -> {after:.4f}"
