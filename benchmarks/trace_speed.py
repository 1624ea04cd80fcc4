"""Time the symbolic tracer: its cost must not grow with the sizes of B and T.

    python benchmarks/trace_speed.py [--repeats 15]

Runs of a 4-layer LSTM(64) stack with a Dense head, forward and backward:
- symbolic B and T, traced over the representative steps 0, 1, T-1;
- the same with B = T = 10^6 declared (no array of that size is ever allocated: the trace
  reports the BPTT memory such a batch would need instead);
- a concrete T = 1000 traced over all its steps (``all_steps=True``), written as a literal and given
  by name (``dims={"T": 1000}``), also with a mask, and the same stack of GRU(64) and of
  Bidirectional(LSTM(64)) (twice the layers).
Medians of repeated runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import tracemalloc

from timing import median_ms  # benchmarks/timing.py: run as scripts, this folder is on the path

from shapeviz import GRU, LSTM, Bidirectional, Dense, Sequential, trace


def model(cell=LSTM, bidirectional: bool = False) -> Sequential:
    """The benchmark's 4-layer stack of ``cell(64)`` with a Dense head (each layer wrapped in a
    Bidirectional when asked)."""
    layers = [cell(64, return_sequences=i < 3) for i in range(4)]
    if bidirectional:
        layers = [Bidirectional(layer) for layer in layers]
    return Sequential([*layers, Dense(1)], seed=0)




def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    m = model()
    gru, bi = model(GRU), model(LSTM, bidirectional=True)
    for built in (m, gru, bi):
        trace(built, "(B, T, 8)")  # builds the weights once
    runs = [
        ("symbolic B, T (steps 0, 1, T-1)", lambda: trace(m, "(B, T, 8)")),
        ("B = T = 10^6 declared", lambda: trace(m, "(B, T, 8)", dims={"B": 10**6, "T": 10**6})),
        ("T = 1000, all steps", lambda: trace(m, "(B, 1000, 8)", all_steps=True)),
        ("T = 1000 by name (dims), all steps", lambda: trace(m, "(B, T, 8)", dims={"T": 1000}, all_steps=True)),
        ("T = 1000, all steps, with a mask (B, T)", lambda: trace(m, "(B, 1000, 8)", mask="(B, 1000)",
                                                                 all_steps=True)),
        ("T = 1000, all steps, GRU(64) x 4", lambda: trace(gru, "(B, 1000, 8)", all_steps=True)),
        ("T = 1000, all steps, Bidirectional(LSTM(64)) x 4", lambda: trace(bi, "(B, 1000, 8)", all_steps=True)),
    ]
    print(f"{'trace of a 4-layer LSTM(64) stack, forward + backward':56s} {'median ms':>10s}")
    for name, fn in runs:
        reps = max(3, args.repeats // 5) if "all steps" in name else args.repeats
        print(f"{name:56s} {median_ms(fn, reps):10.1f}")
    tracemalloc.start()
    big = trace(m, "(B, T, 8)", dims={"B": 10**6, "T": 10**6})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak Python memory while tracing B = T = 10^6: {peak / 1e6:.1f} MB; the BPTT memory such a "
          f"batch needs: {big.memory} bytes = {big.memory_bytes() / 1e12:.0f} TB")


if __name__ == "__main__":
    main()
