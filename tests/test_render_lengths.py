"""Every mode drawn right at every sequence length: T = 1, 2, 3, 4 and a long T, with --unroll above,
equal to and below it. The boxes are read back out of the text diagram and the DOT, never out of the
picture's own data, and compared with the shapes the example specs declare."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shapeviz.cli.common import load_source, trace_loaded
from shapeviz.render.graph import unrolled_graph
from shapeviz.render.text import text_diagram
from test_render_functional import dot_boxes

SPECS = Path(__file__).resolve().parent.parent / "examples" / "specs"
LENGTHS = [1, 2, 3, 4, 50]
UNROLLS = [1, 3, 5]


def text_boxes(text: str) -> list[list[str]]:
    """Each box drawn in ``text`` (a ┌…┐ over │…│ lines over └…┘), as its lines of text, with the
    shape on the same line as its name (``["x_0 (B, 2)"]``; an LSTM box ``["h_0 (B, 32)", "c_0 (B, 32)"]``)."""
    grid = text.splitlines()
    boxes = []
    for y, line in enumerate(grid):
        for m in re.finditer(r"┌[─╌┴]*┐", line):
            x0, x1 = m.start(), m.end() - 1
            inner = []
            for row in grid[y + 1:]:
                if len(row) <= x1 or row[x0] not in "│╎┤":
                    break
                inner.append(row[x0 + 1:x1].strip())
            boxes.append(_pair([t for t in inner if t]))
    return boxes


def _pair(lines: list[str]) -> list[str]:
    """A name line followed by its shape line, as one line (the layouts put them on two)."""
    out: list[str] = []
    for t in lines:
        if t.startswith("(") and out and not out[-1].endswith(")"):
            out[-1] += " " + t
        else:
            out.append(t)
    return out


def dot_lines(source: str) -> list[list[str]]:
    """Each box of the DOT as its lines (a table's cells, or name then shape joined)."""
    return [_pair([" ".join(t.split()) for t in lines]) for lines in dot_boxes(source).values()]


def steps(n: int, unroll: int, last: str) -> list[str]:
    """The step labels drawn of an n-step sequence: all, or the first ``unroll`` and the last."""
    return [str(i) for i in range(n)] if n <= unroll + 1 else [*map(str, range(unroll)), last]


def named(boxes: list[list[str]], prefix: str) -> dict[str, str]:
    """``{"0": "(B, 2)", "{T-1}": "(B, 2)"}``: the steps and shapes of the lines ``prefix_t shape``;
    ``{"": shape}`` for a line ``prefix shape`` (no step)."""
    found: dict[str, str] = {}
    for box in boxes:
        for line in box:
            m = re.fullmatch(re.escape(prefix) + r"(?:_(\d+|\{[^}]*\}))? (\(.*\))", line)
            if m:
                assert (m.group(1) or "") not in found, f"{prefix}_{m.group(1)} drawn twice"
                found[m.group(1) or ""] = m.group(2)
    return found


def _trace(spec: str, dims: dict[str, int], steps: int | None = None):  # type: ignore[no-untyped-def]
    loaded = load_source(str(SPECS / f"{spec}.toml"))
    if steps is not None:  # a OneToMany's length is its steps option, not a dim
        loaded.model.steps = steps
        loaded.expect.clear()
        loaded.labels = None
    return trace_loaded(loaded, None, dims, backward=False)


def both(tr, unroll: int) -> list[list[list[str]]]:  # type: ignore[no-untyped-def]
    return [text_boxes(text_diagram(tr, unroll=unroll)), dot_lines(unrolled_graph(tr, unroll=unroll).source)]


@pytest.mark.parametrize("unroll", UNROLLS)
@pytest.mark.parametrize("n", LENGTHS)
def test_synced_many_to_many(n: int, unroll: int) -> None:
    tr = _trace("synced_many_to_many", {"T": n})
    want = steps(n, unroll, "{T-1}")
    for boxes in both(tr, unroll):
        assert named(boxes, "x") == {t: "(B, 1)" for t in want}
        assert named(boxes, "h") == {t: "(B, 16)" for t in want}
        assert named(boxes, "y") == {t: "(B, 1)" for t in want}


@pytest.mark.parametrize("unroll", UNROLLS)
@pytest.mark.parametrize("n", LENGTHS)
def test_many_to_one(n: int, unroll: int) -> None:
    tr = _trace("many_to_one", {"T": n})
    want = steps(n, unroll, "{T-1}")
    for boxes in both(tr, unroll):
        assert named(boxes, "x") == {t: "(B, 1)" for t in want}
        assert named(boxes, "h") == {t: "(B, 16)" for t in want}
        assert named(boxes, "y") == {"": "(B, 1)"}  # one output, after the last step


@pytest.mark.parametrize("unroll", UNROLLS)
@pytest.mark.parametrize("n", LENGTHS)
def test_addition_bidirectional_masked(n: int, unroll: int) -> None:
    tr = _trace("addition", {"T": n})
    want = steps(n, unroll, "{T-1}")
    for boxes in both(tr, unroll):
        assert named(boxes, "x") == {t: "(B, 2)" for t in want}
        assert named(boxes, "h→") == {t: "(B, 100)" for t in want}
        assert named(boxes, "h←") == {t: "(B, 100)" for t in want}
        assert named(boxes, "m") == {"": "(B, 200)"}
        # the mask given with every step's input: any step may be padding
        assert named(boxes, "mask") == {t: "(B,)" for t in want}
        inputs = [b for b in boxes if b and b[0].startswith("x_")]
        assert all(len(b) == 2 and b[1].startswith("mask_") for b in inputs), inputs
        assert named(boxes, "y") == {"": "(B, 1)"}


@pytest.mark.parametrize("unroll", UNROLLS)
@pytest.mark.parametrize("n", LENGTHS)
def test_many_to_many(n: int, unroll: int) -> None:
    m = {1: 2, 2: 1, 3: 4, 4: 3, 50: 60}[n]  # the decoder's length differs from the encoder's
    tr = _trace("many_to_many", {"T_in": n, "T_out": m})
    src, out = steps(n, unroll, "{T_in-1}"), steps(m, unroll, "{T_out-1}")
    for boxes in both(tr, unroll):
        assert named(boxes, "x") == {t: "(B, 3)" for t in src}
        assert named(boxes, "x'") == {t: "(B, 3)" for t in out}
        assert named(boxes, "h'") == {t: "(B, 32)" for t in out}
        assert named(boxes, "y") == {t: "(B, 3)" for t in out}


@pytest.mark.parametrize("unroll", UNROLLS)
@pytest.mark.parametrize("n", LENGTHS)
def test_one_to_many(n: int, unroll: int) -> None:
    tr = _trace("one_to_many", {}, steps=n)
    want = steps(n, unroll, str(n - 1))
    for boxes in both(tr, unroll):
        assert named(boxes, "x") == {"": "(B, 2)"}  # the vector, at step 0
        fed = [b for b in boxes if "fed back" in b]  # after step 0, each step reads the output before it
        assert named([b for b in boxes if b not in fed], "y") == {t: "(B, 2)" for t in want}
        assert named(fed, "y") == {str(int(t) - 1): "(B, 2)" for t in want[1:]}
        assert named(boxes, "h") == {t: "(B, 24)" for t in want}


@pytest.mark.parametrize("unroll", UNROLLS)
@pytest.mark.parametrize("n", LENGTHS)
def test_one_to_one_has_no_steps(n: int, unroll: int) -> None:
    tr = _trace("one_to_one", {"B": n})
    for boxes in both(tr, unroll):
        assert named(boxes, "x") == {"": "(B, 4)"}
        assert named(boxes, "y") == {"": "(B, 3)"}


# -- the mask is data: drawn with the input, where it enters, and in the --steps table ---------------
def test_mask_in_the_steps_table_and_where_it_enters() -> None:
    import io

    from rich.console import Console

    from shapeviz.render.tables import steps_table
    from shapeviz.render.unroll import unrolled

    tr = _trace("addition", {"T": 50})
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(steps_table(tr, "bidirectional_1"))
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if line.split()[:2] == ["t", "x_t"])
    assert header.split()[:3] == ["t", "x_t", "mask_t"]
    rows = [line for line in lines if line.split()[:1] in (["0"], ["1"], ["T-1"])]
    assert len(rows) == 6 and all(re.search(r"\(B, 2\)\s+\(B,\)\s", line) for line in rows)
    assert any(line.startswith("mask_t: the mask at step t") for line in lines)
    pic = unrolled(tr)
    entered = [r.title for r in pic.rows if any(d.startswith("mask (B, T) in") for d in r.details)]
    assert entered == ["bidirectional_1"]
    plain = _trace("many_to_one", {"T": 5})  # no mask: no mask_t anywhere
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(steps_table(plain, "gru_1"))
    assert "mask" not in out.getvalue() and "mask" not in text_diagram(plain)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 50])
def test_time_major_with_T_equal_to_B(n: int) -> None:
    """(T, B, 3) with T = B: the time axis is the layer's axis 0, found by its name, not by its size."""
    from shapeviz import LSTM, Dense, Sequential, trace

    model = Sequential([LSTM(4, return_sequences=True, time_major=True), Dense(1)], seed=0)
    tr = trace(model, "(T, B, 3)", dims={"T": n, "B": n}, backward=False)
    want = steps(n, 3, "{T-1}")
    for boxes in both(tr, 3):
        assert named(boxes, "x") == {t: "(B, 3)" for t in want}
        assert named(boxes, "y") == {t: "(B, 1)" for t in want}
