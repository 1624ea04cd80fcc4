"""Shared pytest options and fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--overwrite", action="store_true", default=False,
                     help="rewrite the golden files (tests/golden/) from the current output instead of comparing")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """``golden("name.txt", text)``: compare ``text`` with tests/golden/name.txt, or write it with
    ``pytest --overwrite``. Review the diff of regenerated files before committing them."""
    overwrite = request.config.getoption("--overwrite")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if overwrite or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not overwrite:
                pytest.fail(f"golden file {path} did not exist and was written: check it, then rerun")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path}; rerun with --overwrite if the change is intended"

    return check
