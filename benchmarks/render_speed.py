"""Time the unrolled graph: a 4-layer model unrolled at T=1000 and rendered to SVG must take under 1 s.

    python benchmarks/render_speed.py [--repeats 7] [--engine graphviz-pure]

The model is a 3-layer LSTM(64) stack with a Dense head, traced at T=1000 (steps 0, 1 and
999 recorded). Medians of repeated runs, in milliseconds, for each stage: the trace, the
Digraph (DOT source), the terminal diagram, and the SVG and PNG layouts. The picture shows
steps 0..2, an ellipsis and step 999, so the layout's cost does not depend on T.
"""

from __future__ import annotations

import argparse

from timing import median_ms  # benchmarks/timing.py: run as scripts, this folder is on the path

from shapeviz import LSTM, Dense, Sequential, trace
from shapeviz.render.graph import unrolled_graph
from shapeviz.render.output import engine_for, to_bytes
from shapeviz.render.text import text_diagram


def model() -> Sequential:
    return Sequential([LSTM(64, return_sequences=True), LSTM(64, return_sequences=True), LSTM(64), Dense(1)],
                      seed=0)




def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--engine", default="graphviz-pure", choices=["auto", "dot", "graphviz-pure"])
    parser.add_argument("--T", type=int, default=1000)
    args = parser.parse_args(argv)
    net = model()
    tr = trace(net, (32, args.T, 8))
    graph = unrolled_graph(tr)
    engine = engine_for("svg", args.engine)[0]
    results = {
        f"trace (B=32, T={args.T})": median_ms(lambda: trace(net, (32, args.T, 8)), args.repeats),
        "unrolled_graph (DOT)": median_ms(lambda: unrolled_graph(tr).source, args.repeats),
        "text_diagram": median_ms(lambda: text_diagram(tr), args.repeats),
        f"SVG via {engine}": median_ms(lambda: to_bytes(graph, "svg", args.engine), args.repeats),
        f"PNG via {engine}": median_ms(lambda: to_bytes(graph, "png", args.engine), args.repeats),
        "graph + SVG, end to end": median_ms(lambda: to_bytes(unrolled_graph(tr), "svg", args.engine),
                                             args.repeats),
    }
    print(f"4-layer model (3 x LSTM(64) + Dense) at T={args.T}; medians of {args.repeats} runs")
    for name, ms in results.items():
        print(f"  {name:28s} {ms:8.1f} ms")
    total = results["graph + SVG, end to end"]
    print(f"unrolled graph to SVG: {total:.0f} ms ({'under' if total < 1000 else 'OVER'} the 1 s budget)")
    return results


if __name__ == "__main__":
    main()
