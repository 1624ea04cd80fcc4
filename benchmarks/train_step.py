"""Time one training step (forward + BPTT + Adam) of shapeviz against the same step in PyTorch CPU.

Run (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, where set on these machines, slow numpy: unset
them for this command alone):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/train_step.py
    ... --config imdb-lstm --dtype float32 --threads 2 --repeats 31
    ... --quick                      # few repeats, for a smoke run
    ... --graph                      # the imdb model as a Sequential and as a graph, paired

Each configuration is one model, built once in shapeviz and once in torch with the same
weights (converted with ``shapeviz.core.convert``); the first step's losses are compared, so
both sides do the same work: forward, loss, backward, Adam update, zero_grad. The two steps
run alternately, in one process, with the same number of threads (numpy's BLAS through
threadpoolctl, ``torch.set_num_threads``); each timed step starts on an idle machine: BLAS and
OpenMP worker threads spin for up to ~0.1 s after their last call and would otherwise steal a
core from the other side, and on a shared machine the benchmark waits (up to 3 s) for other
processes' bursts to pass, noting the steps it had to time anyway. The table shows medians;
ratio = shapeviz / torch (< 1: faster).

Memory: the bytes of the per-step buffers every recurrent layer keeps in its cache for BPTT
(states, gates and anything else with a time axis, counted once however many views share
them) against the necessary minimum: per step the states and the gates (see README.md).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from shapeviz import GRU, LSTM, Adam, Dense, Embedding, Input, Model, Sequential, SimpleRNN
from shapeviz.core.convert import to_torch_weights
from shapeviz.core.losses import BinaryCrossentropy, MeanSquaredError
from shapeviz.core.recurrent import Recurrent, RecurrentCache
from shapeviz.train.step import train_step

try:
    import torch
except ImportError:  # the table then has shapeviz's column only
    torch = None


@dataclass(frozen=True)
class Config:
    name: str
    cell: str  # "lstm", "gru" or "simple_rnn"
    B: int
    T: int
    F: int  # input features (the embedding size for imdb)
    H: int
    layers: int = 1
    vocab: int = 0  # > 0: ids through Embedding(vocab, F), binary labels, BCE with logits; else MSE


CONFIGS = {
    c.name: c for c in [
        Config("imdb-lstm", "lstm", B=32, T=80, F=128, H=128, vocab=20000),
        Config("imdb-gru", "gru", B=32, T=80, F=128, H=128, vocab=20000),
        Config("addition-simplernn", "simple_rnn", B=100, T=50, F=2, H=100),
        Config("addition-lstm", "lstm", B=100, T=50, F=2, H=100),
        Config("large-lstm", "lstm", B=64, T=100, F=256, H=512, layers=2),
    ]
}
CELLS = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}
# the necessary per-step activations in units of H (states + gates): what backward cannot do without
MINIMUM_PER_STEP = {
    "simple_rnn": 1,  # h_t (its one "gate" is h_t itself: tanh' = 1 - h_t²)
    "lstm": 6,  # h_t, c_t; i, f, g, o
    "gru": 5,  # h_t; z, r, h~ and U_h·h_{t-1} + b_h (reset_after: r multiplies it; torch keeps it too)
}


# -- shapeviz -------------------------------------------------------------------------------
def make_data(cfg: Config, dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if cfg.vocab:
        x = rng.integers(0, cfg.vocab, size=(cfg.B, cfg.T))
        y = rng.integers(0, 2, size=(cfg.B, 1)).astype(dtype)
    else:
        x = rng.uniform(-1.0, 1.0, size=(cfg.B, cfg.T, cfg.F)).astype(dtype)
        y = rng.normal(size=(cfg.B, 1)).astype(dtype)
    return x, y


def make_shapeviz(cfg: Config, dtype: str) -> Sequential:
    layers: list = [Embedding(cfg.vocab, cfg.F)] if cfg.vocab else []
    for i in range(cfg.layers):
        layers.append(CELLS[cfg.cell](cfg.H, return_sequences=i < cfg.layers - 1))
    layers.append(Dense(1))
    model = Sequential(layers, dtype=dtype, seed=0)
    model.build((None, cfg.T) if cfg.vocab else (None, cfg.T, cfg.F))
    loss = BinaryCrossentropy(from_logits=True) if cfg.vocab else MeanSquaredError()
    return model.compile(loss, Adam(learning_rate=1e-3))


def memory(model: Sequential, cfg: Config, x: np.ndarray) -> tuple[int, int]:
    """(bytes of the per-step buffers the recurrent caches keep, the necessary minimum)."""
    _, cache = model.forward(x, training=True)
    kept = necessary = 0
    for layer, c in zip(model.layers, cache.caches):
        if not isinstance(layer, Recurrent):
            continue
        assert isinstance(c, RecurrentCache)
        arrays = [c.xw, *c.S, *(a for a in c.bufs.values() if isinstance(a, np.ndarray))]
        roots: dict[int, np.ndarray] = {}
        for a in arrays:
            if a.shape[:1] not in ((cfg.T,), (cfg.T + 1,)):
                continue  # per-forward constants and scratch: they do not grow with T
            while isinstance(a.base, np.ndarray):  # count shared memory once
                a = a.base
            roots[id(a)] = a
        kept += sum(a.nbytes for a in roots.values())
        necessary += cfg.T * cfg.B * layer.units * MINIMUM_PER_STEP[cfg.cell] * np.dtype(layer.dtype).itemsize
    return kept, necessary


# -- torch ----------------------------------------------------------------------------------
def make_torch(cfg: Config, model: Sequential) -> tuple[Any, Any, Any]:
    tdtype = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}[model.dtype]
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[cfg.cell]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(cfg.vocab, cfg.F) if cfg.vocab else None
            self.rnn = rnn_cls(cfg.F, cfg.H, num_layers=cfg.layers, batch_first=True)
            self.head = torch.nn.Linear(cfg.H, 1)

        def forward(self, x: Any) -> Any:
            if self.emb is not None:
                x = self.emb(x)
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    net = Net().to(tdtype)
    state = {}
    rec = [layer for layer in model.layers if isinstance(layer, Recurrent)]
    for i, layer in enumerate(rec):
        state.update({f"rnn.{k}": v for k, v in to_torch_weights(cfg.cell, layer.get_weights(), f"_l{i}").items()})
    dense = model.layers[-1]
    state["head.weight"] = dense.params["kernel"].T.copy()
    state["head.bias"] = dense.params["bias"].copy()
    if cfg.vocab:
        state["emb.weight"] = model.layers[0].params["embeddings"].copy()
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    loss_fn = torch.nn.BCEWithLogitsLoss() if cfg.vocab else torch.nn.MSELoss()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)  # Keras's epsilon, as shapeviz
    return net, loss_fn, opt


def torch_step(net: Any, loss_fn: Any, opt: Any, x: Any, y: Any) -> float:
    loss = loss_fn(net(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return float(loss.detach())


# -- timing ---------------------------------------------------------------------------------
def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine, from /proc/stat (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def settle(limit: float = 3.0) -> bool:
    """Wait until the machine is idle: our BLAS/OpenMP workers have stopped spinning and no
    other process is running (on a shared machine a busy core distorts a 2-thread step
    most). Returns False if it was still busy after ``limit`` seconds (timed anyway)."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before = _cpu_times()
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(0.05)
        after = _cpu_times()
        if before is not None and after is not None:
            busy, total = after[0] - before[0], after[1] - before[1]
            if total > 0 and busy < 0.1 * total:
                return True
        elif time.process_time() - c0 < 0.05 * (time.perf_counter() - w0):
            return True
    return False


def timed(fn: Callable[[], Any]) -> tuple[float, bool]:
    quiet = settle()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, quiet


@dataclass
class Row:
    config: str
    dtype: str
    threads: int
    ours: float  # median seconds
    theirs: float | None
    kept: int
    necessary: int
    loss_diff: float | None
    busy: int  # timed steps that started while the machine was still busy


def bench(cfg: Config, dtype: str, threads: int, repeats: int, warmup: int = 3) -> Row:
    x, y = make_data(cfg, dtype)
    model = make_shapeviz(cfg, dtype)
    kept, necessary = memory(model, cfg, x)
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=threads, user_api="blas"):
        fns: dict[str, Callable[[], Any]] = {"ours": lambda: train_step(model, x, y, None, rng)}
        loss_diff = None
        if torch is not None:
            torch.set_num_threads(threads)
            net, loss_fn, opt = make_torch(cfg, model)
            tx = torch.from_numpy(x)
            ty = torch.from_numpy(y)
            loss_diff = abs(fns["ours"]() - torch_step(net, loss_fn, opt, tx, ty))  # same weights, same data
            fns["theirs"] = lambda: torch_step(net, loss_fn, opt, tx, ty)
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        busy = 0
        gc.collect()
        gc.disable()
        try:
            for r in range(repeats):
                order = list(fns) if r % 2 == 0 else list(fns)[::-1]  # alternate who goes first
                for k in order:
                    seconds, quiet = timed(fns[k])
                    times[k].append(seconds)
                    busy += not quiet
        finally:
            gc.enable()
    med = {k: statistics.median(v) for k, v in times.items()}
    return Row(cfg.name, dtype, threads, med["ours"], med.get("theirs"), kept, necessary, loss_diff, busy)


def make_graph(cfg: Config, dtype: str, like: Sequential) -> Any:
    """The same model as :func:`make_shapeviz` written as a functional graph, with its weights."""
    x = Input((None, None), name="ids", dtype="int64") if cfg.vocab else Input((None, None, cfg.F), name="x")
    t = Embedding(cfg.vocab, cfg.F)(x) if cfg.vocab else x
    for i in range(cfg.layers):
        t = CELLS[cfg.cell](cfg.H, return_sequences=i < cfg.layers - 1)(t)
    model = Model(inputs=x, outputs=Dense(1)(t), dtype=dtype, seed=0)
    model.set_weights(like.get_weights())
    loss = BinaryCrossentropy(from_logits=True) if cfg.vocab else MeanSquaredError()
    return model.compile(loss, Adam(learning_rate=1e-3))


def bench_graph(cfg: Config, dtype: str, threads: int, repeats: int, warmup: int = 3) -> tuple[float, float, int]:
    """Median seconds of a training step of the Sequential and of the same model as a graph, timed
    alternately in one process; returns (sequential, graph, steps timed while the machine was busy)."""
    x, y = make_data(cfg, dtype)
    seq = make_shapeviz(cfg, dtype)
    graph = make_graph(cfg, dtype, seq)
    rng_s, rng_g = np.random.default_rng(0), np.random.default_rng(0)
    with threadpool_limits(limits=threads, user_api="blas"):
        fns = {"sequential": lambda: train_step(seq, x, y, None, rng_s),
               "graph": lambda: train_step(graph, x, y, None, rng_g)}
        first = {k: fn() for k, fn in fns.items()}
        assert abs(first["sequential"] - first["graph"]) <= 1e-5, first  # the same model, the same step
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        busy = 0
        gc.collect()
        gc.disable()
        try:
            for r in range(repeats):
                for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                    seconds, quiet = timed(fns[k])
                    times[k].append(seconds)
                    busy += not quiet
        finally:
            gc.enable()
    return statistics.median(times["sequential"]), statistics.median(times["graph"]), busy


def graph_bookkeeping(repeats: int = 15, steps: int = 200) -> tuple[float, float]:
    """Median seconds of a training step of a tiny imdb-shaped model (vocabulary 10, 2 units, B=1,
    T=2) as a Sequential and as a graph: the arithmetic is negligible, so the difference is what
    the graph's own bookkeeping (node by node, dicts of values and masks) costs per step."""
    cfg = Config("tiny", "lstm", B=1, T=2, F=2, H=2, vocab=10)
    x, y = make_data(cfg, "float32")
    seq = make_shapeviz(cfg, "float32")
    graph = make_graph(cfg, "float32", seq)
    rng = np.random.default_rng(0)
    times: dict[int, list[float]] = {0: [], 1: []}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(steps):
            train_step(seq, x, y, None, rng)
            train_step(graph, x, y, None, rng)
        for r in range(repeats):
            for k, model in ((0, seq), (1, graph)) if r % 2 == 0 else ((1, graph), (0, seq)):
                t0 = time.perf_counter()
                for _ in range(steps):
                    train_step(model, x, y, None, rng)
                times[k].append((time.perf_counter() - t0) / steps)
    return statistics.median(times[0]), statistics.median(times[1])


def graph_main(configs: list[Config], dtypes: list[str], threads: list[int], repeats: int, warmup: int) -> int:
    print(f"numpy {np.__version__}: {blas_report()}")
    print(f"median of {repeats} steps per side, alternating; ratio = graph / Sequential\n")
    header = f"{'config':20s} {'dtype':8s} {'thr':>3s} {'Sequential ms':>13s} {'graph ms':>9s} {'ratio':>6s}"
    print(header)
    print("-" * len(header))
    for cfg in configs:
        for dtype in dtypes:
            for n in threads:
                s, g, busy = bench_graph(cfg, dtype, n, repeats, warmup)
                print(f"{cfg.name:20s} {dtype:8s} {n:3d} {s * 1e3:13.2f} {g * 1e3:9.2f} {g / s:6.3f}", flush=True)
                if busy:
                    print(f"  note: {busy} of {2 * repeats} timed steps started while the machine was busy")
    s, g = graph_bookkeeping()
    print(f"\nbookkeeping (a tiny model, the arithmetic negligible): Sequential {s * 1e6:.0f} us, graph "
          f"{g * 1e6:.0f} us a step: the graph adds {(g - s) * 1e6:.0f} us")
    return 0


def blas_report() -> str:
    parts = []
    for m in threadpool_info():
        if m["user_api"] == "blas":
            parts.append(f"{m['internal_api']} {m.get('version')} kernel {m.get('architecture')} "
                         f"({m['filepath'].rsplit('/', 1)[-1]})")
    return "; ".join(parts) or "no BLAS found by threadpoolctl"


HEADER = (f"{'config':20s} {'dtype':8s} {'thr':>3s} {'shapeviz ms':>11s} {'torch ms':>9s} {'ratio':>6s}"
          f" {'kept MB':>8s} {'min MB':>7s} {'mem ratio':>9s}")


def format_row(r: Row) -> str:
    theirs = f"{r.theirs * 1e3:9.2f}" if r.theirs is not None else f"{'-':>9s}"
    ratio = f"{r.ours / r.theirs:6.2f}" if r.theirs is not None else f"{'-':>6s}"
    return (f"{r.config:20s} {r.dtype:8s} {r.threads:3d} {r.ours * 1e3:11.2f} {theirs} {ratio}"
            f" {r.kept / 2**20:8.2f} {r.necessary / 2**20:7.2f} {r.kept / r.necessary:9.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=[*CONFIGS, "all"], default="all")
    p.add_argument("--dtype", choices=["float32", "float64", "all"], default="all")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=21, help="timed steps per side (default 21)")
    p.add_argument("--quick", action="store_true", help="5 repeats, 1 warm-up: a smoke run")
    p.add_argument("--graph", action="store_true",
                   help="time the model as a Sequential and as a functional graph, paired (default config imdb-lstm)")
    args = p.parse_args(argv)
    configs = list(CONFIGS.values()) if args.config == "all" else [CONFIGS[args.config]]
    dtypes = ["float32", "float64"] if args.dtype == "all" else [args.dtype]
    threads = [int(t) for t in args.threads.split(",")]
    repeats, warmup = (5, 1) if args.quick else (args.repeats, 3)
    if args.graph:
        return graph_main([CONFIGS["imdb-lstm"]] if args.config == "all" else configs, dtypes, threads, repeats, warmup)

    print(f"numpy {np.__version__}: {blas_report()}")
    if torch is not None:
        print(f"torch {torch.__version__}: mkldnn={torch.backends.mkldnn.is_available()}, "
              f"intra-op threads set per row")
    else:
        print("torch is not installed: shapeviz timings only")
    print(f"median of {repeats} steps per side, alternating; ratio = shapeviz / torch\n")
    print(HEADER)
    print("-" * len(HEADER))
    for cfg in configs:
        for dtype in dtypes:
            for n in threads:
                row = bench(cfg, dtype, n, repeats, warmup)
                print(format_row(row), flush=True)
                if row.busy:
                    print(f"  note: {row.busy} of {repeats * (1 + (torch is not None))} timed steps started "
                          "while other processes kept the machine busy", flush=True)
                if row.loss_diff is not None and row.loss_diff > (1e-3 if dtype == "float32" else 1e-9):
                    print(f"  warning: first-step losses differ by {row.loss_diff:.3g}: not the same model?")
    return 0


if __name__ == "__main__":
    sys.exit(main())
