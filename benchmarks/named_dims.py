"""Time all 1000 steps of the 4 x LSTM(64) stack with T given by name and written as a literal.

    PYTHONPATH=<tree> python benchmarks/named_dims.py [--repeats 5]

Run it on two trees in turn (before and after a change) for paired figures; medians in ms.
"""

from __future__ import annotations

import argparse

from timing import median_ms  # benchmarks/timing.py: run as scripts, this folder is on the path
from trace_speed import model

from shapeviz import trace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    m = model()
    trace(m, "(B, T, 8)")  # builds the weights once
    named = median_ms(lambda: trace(m, "(B, T, 8)", dims={"T": 1000}, all_steps=True), args.repeats)
    literal = median_ms(lambda: trace(m, "(B, 1000, 8)", all_steps=True), args.repeats)
    print(f"named {named:.0f} ms  literal {literal:.0f} ms")


if __name__ == "__main__":
    main()
