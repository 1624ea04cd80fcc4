"""Regenerate the README's pictures: docs/images/<mode>.svg and .png for Karpathy's five modes, the addition model,
the three graph models of examples/functional.py and (with torch installed) the PyTorch sentiment example's twin.

    python docs/make_images.py [--out docs/images]

Each picture is the unrolled graph of a trace of a model from examples/five_modes.py (one per
mode) or examples/addition.py (Lasagne's bidirectional RNN), laid out by graphviz-pure so the
files are the same on every machine, whether or not a system Graphviz is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from shapeviz import trace
from shapeviz.render.graph import unrolled_graph
from shapeviz.render.output import render

ROOT = Path(__file__).resolve().parents[1]

# picture name: (the example's mode name, its input declaration)
MODES = {
    "one_to_one": ("one-to-one", "(B, 4)"),
    "one_to_many": ("one-to-many", "(B, 2)"),
    "many_to_one": ("many-to-one", "(B, T, 1)"),
    "many_to_many": ("many-to-many (encoder-decoder)", ("(B, T_in, 3)", "(B, T_out, 3)")),
    "synced_many_to_many": ("synced many-to-many", "(B, T, 1)"),
}


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def traces() -> dict[str, object]:
    """The trace behind each picture."""
    five = dict(example("five_modes").MODES)
    out: dict[str, object] = {}
    for name, (mode, inputs) in MODES.items():
        model, _, _ = five[mode](np.random.default_rng(0), 4)
        out[name] = trace(model, inputs)
    out["addition"] = trace(example("addition").build_model(seed=0), "(B, T, 2)")
    functional = example("functional")  # graph models: each traced as its Inputs declare
    out["functional_seq2seq"] = trace(functional.build_seq2seq(), None)
    out["functional_addition"] = trace(functional.build_addition(), None)
    out["functional_classifier"] = trace(functional.build_classifier(), None)
    try:
        import torch  # noqa: F401
    except ImportError:
        return out
    from shapeviz.frontends import load
    loaded = load(f"{ROOT / 'examples' / 'torch' / 'sentiment.py'}:build")
    out["torch_sentiment"] = trace(loaded.model, loaded.inputs)
    return out


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, tr in traces().items():
        graph = unrolled_graph(tr)  # type: ignore[arg-type]
        for fmt in ("svg", "png"):
            written.append(render(graph, args.out / f"{name}.{fmt}", engine="graphviz-pure"))
    for path in written:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KB")
    return written


if __name__ == "__main__":
    sys.exit(main() and 0)
