"""Time the full deep check of the imdb example model: under 10 s on 2 cores.

    python benchmarks/deep_check.py [--repeats 3] [--seq-len 80]

The model is Keras's imdb_lstm, Embedding(20000, 128) -> LSTM(128) -> Dense(1, sigmoid), built
from examples/specs/imdb_lstm.toml's layers. ``shapeviz.checks.run`` runs every check (shapes,
float64 gradients, batch independence, causality, initial loss, overfit one batch, gradient
flow) on its default tiny batch, then again with a real-length batch of ``--seq-len`` word ids
(the spec's maxlen, 80) plus an IMDB-shaped --data set (1,000 reviews) for the data check.
Medians of repeated runs, in seconds, per check and in total.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from shapeviz import LSTM, Dense, Embedding, Sequential
from shapeviz.checks import CHECKS, run

BUDGET = 10.0


def model() -> Sequential:
    return Sequential([Embedding(20000, 128), LSTM(128), Dense(1, activation="sigmoid")], seed=0).build((None, 80))


def timed(label: str, fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times, per = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        per_check = {}
        for name in CHECKS:
            t = time.perf_counter()
            results = fn(name)
            if results:
                per_check[name] = (time.perf_counter() - t, results[0].status)
        times.append(time.perf_counter() - start)
        per = per_check
    total = statistics.median(times)
    print(f"{label}: {total:.2f} s total (median of {repeats}), budget {BUDGET:.0f} s")
    for name, (sec, status) in per.items():
        print(f"  {name:<20} {sec:6.2f} s  {status}")
    return total


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=80)
    args = parser.parse_args(argv)
    m = model()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 20000, size=(2, args.seq_len))
    data = {"x": rng.integers(0, 20000, size=(1000, args.seq_len)),
            "y": rng.integers(0, 2, size=(1000, 1)).astype(np.float32)}
    start = time.perf_counter()
    results = run(m)
    whole = time.perf_counter() - start
    print(f"run(imdb model), all checks in one call: {whole:.2f} s; "
          + ", ".join(f"{r.name} {r.status}" for r in results))
    out = {"one_call": whole,
           "default": timed("default tiny batch (B=2, T=4; flow T=32)", lambda n: run(m, only=[n]), args.repeats),
           f"T={args.seq_len}": timed(f"ids (2, {args.seq_len})", lambda n: run(m, ids, only=[n]), args.repeats),
           "data": timed(f"--data 1000 x {args.seq_len} reviews", lambda n: run(m, data=data, only=[n]),
                         args.repeats)}
    worst = max(out.values())
    print(f"slowest: {worst:.2f} s — {'within' if worst < BUDGET else 'OVER'} the {BUDGET:.0f} s budget")
    return out


if __name__ == "__main__":
    main()
