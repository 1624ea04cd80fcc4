"""Time Embedding's gradient scatter-add against np.add.at (V=20000, E=128, B=32, T=80).

Run: python benchmarks/embedding_scatter_add.py [rounds]
The candidates run interleaved, round after round, and each reports its best CPU time, so
a busy machine slows them alike. Every candidate is checked against np.add.at first.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from shapeviz.core.embedding import scatter_add_rows

V, E, B, T = 20000, 128, 32, 80


def add_at(table, ids, rows):
    np.add.at(table, ids, rows)


def sort_reduceat(table, ids, rows):
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    table[s[starts]] += np.add.reduceat(rows[order], starts, axis=0)


def unique_bincount(table, ids, rows):
    """The previous implementation: sums each id's rows in float64 with one bincount."""
    uniq, group = np.unique(ids, return_inverse=True)
    cells = (group.reshape(-1, 1) * E + np.arange(E)).reshape(-1)
    sums = np.bincount(cells, weights=rows.reshape(-1), minlength=uniq.size * E)
    table[uniq] += sums.reshape(uniq.size, E).astype(table.dtype, copy=False)


def first_then_flat(table, ids, rows):
    """The first occurrence of every id by fancy indexing, the later ones by flat add.at."""
    uniq, first = np.unique(ids, return_index=True)
    sums = np.take(table, uniq, axis=0)
    sums += np.take(rows, first, axis=0)
    table[uniq] = sums
    later = np.ones(ids.size, dtype=bool)
    later[first] = False
    later = np.flatnonzero(later)
    cells = (ids[later].reshape(-1, 1) * E + np.arange(E)).reshape(-1)
    np.add.at(table.reshape(-1), cells, np.take(rows, later, axis=0).reshape(-1))


def bincount_per_column(table, ids, rows):
    for j in range(table.shape[1]):
        table[:, j] += np.bincount(ids, weights=rows[:, j], minlength=table.shape[0])


def bincount_full_table(table, ids, rows):
    cells = (ids.reshape(-1, 1) * E + np.arange(E)).reshape(-1)
    table += np.bincount(cells, weights=rows.reshape(-1), minlength=table.size).reshape(table.shape)


CANDIDATES = {
    "np.add.at": add_at,
    "flat np.add.at (used)": scatter_add_rows,
    "first ids, then flat add.at": first_then_flat,
    "unique+bincount (before)": unique_bincount,
    "sort+add.reduceat": sort_reduceat,
    "bincount per column": bincount_per_column,
    "bincount on full table": bincount_full_table,
}


def main(rounds: int = 30) -> None:
    rng = np.random.default_rng(0)
    id_sets = {
        "uniform ids": rng.integers(0, V, size=(B, T)),
        "zipf ids": np.minimum(rng.zipf(1.3, size=(B, T)) - 1, V - 1),
        "half padding (id 0)": np.where(np.arange(T) < T // 2, rng.integers(1, V, size=(B, T)), 0),
    }
    for label, id_grid in id_sets.items():
        ids = id_grid.reshape(-1)
        for dtype in (np.float32, np.float64):
            rows = rng.normal(size=(B * T, E)).astype(dtype)
            ref = np.zeros((V, E), dtype)
            add_at(ref, ids, rows)
            tables = {}
            for name, fn in CANDIDATES.items():
                tables[name] = np.zeros((V, E), dtype)
                fn(tables[name], ids, rows)
                exact = name in ("flat np.add.at (used)", "first ids, then flat add.at")
                tol = 0 if exact or (dtype == np.float64 and name == "unique+bincount (before)") else 1e-3
                assert np.allclose(tables[name], ref, rtol=0, atol=tol), name
            best = {name: float("inf") for name in CANDIDATES}
            for _ in range(rounds):
                for name, fn in CANDIDATES.items():
                    t0 = time.process_time()
                    fn(tables[name], ids, rows)
                    best[name] = min(best[name], time.process_time() - t0)
            base = best["np.add.at"]
            print(f"{label}, {np.dtype(dtype).name} ({np.unique(ids).size} distinct ids)")
            for name, t in best.items():
                print(f"  {name:34s} {t * 1e3:7.2f} ms   {base / t:4.1f}x np.add.at")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
