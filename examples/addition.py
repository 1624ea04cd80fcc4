"""Lasagne's ``examples/recurrent.py`` (the addition task) on shapeviz's numpy core.

Each input is a batch of sequences of pairs ``(a, b)``, shape ``(N_BATCH, MAX_LENGTH, 2)``
= ``(100, 55, 2)``: ``a`` a number in [0, 1), ``b`` a marker that is 1 at exactly two
timesteps. The network must output the sum of the two marked ``a``. As in Lasagne:

- data: fresh batches from :func:`shapeviz.datasets.addition.gen_data` (lengths 50-54,
  padded to 55 and masked, inputs and targets centred), ``EPOCH_SIZE`` = 100 batches an
  epoch, one fixed validation batch;
- model: a tanh SimpleRNN(100) run forward and another run backward over the masked
  sequence, each returning only its final state ``(B, 100)``, concatenated to ``(B, 200)``,
  then ``Dense(1, tanh)``; ``--lstm`` swaps in LSTM(100) for both directions;
- training: mean squared error, Adagrad, gradients clipped at 100.

Departure from Lasagne, and why: the learning rate. Lasagne trains 10 epochs at
``LEARNING_RATE = 0.001``; measured here (2 cores) that reaches about 30% of the baseline
cost in 10 epochs (40-55 s), 40% after five. The default is 0.005 for 6 epochs, which
ends near 5-10% of the baseline in 20-40 s (depending on what else the machine runs). ``--lasagne`` restores Lasagne's rate and
its 10 epochs; ``--learning-rate`` and ``--epochs`` set them one by one. With ``--lstm``
the default is 2 epochs: an LSTM step costs four times as much, and learns faster.

Two settings follow Lasagne where shapeviz's defaults are Keras's, and they matter:

- Initialisation: Lasagne initialises both recurrent weight matrices He-uniform
  (``HeUniform()``, uniform in ±sqrt(3 / fan_in)); shapeviz's SimpleRNN defaults to
  Keras's Glorot-uniform / orthogonal, with which this task barely learns at these rates.
  The script loads He-uniform weights; ``--keras-init`` keeps shapeviz's defaults.
- Adagrad: shapeviz's follows Keras (accumulator starts at 0.1, epsilon 1e-7); here it is
  built with Lasagne's values (accumulator 0, epsilon 1e-6).

Run ``python examples/addition.py --help`` for the flags.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Sequence

# Every timestep is a (100, 100) @ (100, 100) matmul, small enough that OpenBLAS's threads cost
# more than they save: measured 0.1 ms single-threaded against 4 ms with two threads on a busy
# 2-core machine. Effective only when set before numpy loads, i.e. when run as a script.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from shapeviz.core.bidirectional import Bidirectional  # noqa: E402
from shapeviz.core.dense import Dense  # noqa: E402
from shapeviz.core.lstm import LSTM  # noqa: E402
from shapeviz.core.optimizers import Adagrad  # noqa: E402
from shapeviz.core.recurrent import Recurrent  # noqa: E402
from shapeviz.core.sequential import Sequential  # noqa: E402
from shapeviz.core.simple_rnn import SimpleRNN  # noqa: E402
from shapeviz.datasets.addition import MAX_LENGTH, MIN_LENGTH, N_BATCH, gen_data  # noqa: E402

N_HIDDEN = 100
LASAGNE_LEARNING_RATE = 0.001
LEARNING_RATE = 0.005  # see the module docstring: Lasagne's 0.001 is too slow for a one-minute run
# Lasagne's grad_clipping=100 clips, elementwise, the gradient flowing back into each step's
# hidden pre-activation. shapeviz clips the parameter gradients instead; clipvalue is the
# elementwise counterpart (clipnorm would rescale all gradients together, a different rule).
# At 100 neither ever triggers on this task, in Lasagne or here: gradients are O(1).
GRAD_CLIP = 100.0
EPOCH_SIZE = 100
NUM_EPOCHS = 6
NUM_EPOCHS_LSTM = 2
LASAGNE_NUM_EPOCHS = 10


def build_model(lstm: bool = False, seed: int | None = None, he_init: bool = True) -> Sequential:
    """Lasagne's network: ``(B, T, 2)`` -> bidirectional RNN, final steps ``(B, 2H)`` -> ``(B, 1)``.

    Args:
        lstm: LSTM(100) in both directions instead of a tanh SimpleRNN(100).
        seed: seeds the weight initialisation.
        he_init: initialise both recurrent weight matrices (``kernel``, ``recurrent_kernel``)
            He-uniform, as Lasagne does (``HeUniform()``: uniform in ±sqrt(3 / fan_in));
            False keeps shapeviz's (Keras's) initialisers.
    """
    cell = LSTM(N_HIDDEN) if lstm else SimpleRNN(N_HIDDEN, activation="tanh")
    model = Sequential([Bidirectional(cell, merge_mode="concat"), Dense(1, activation="tanh")], name="addition",
                       seed=seed)
    model.build((None, MAX_LENGTH, 2))
    if he_init:
        rng = np.random.default_rng(seed)
        for _, layer, key in model.parameters():  # the two directions' weights, then Dense's
            if isinstance(layer, Recurrent) and key in ("kernel", "recurrent_kernel"):
                w = layer.params[key]
                limit = np.sqrt(3.0 / w.shape[0])
                w[...] = rng.uniform(-limit, limit, size=w.shape)
    return model


def epoch_data(rng: np.random.Generator, n_batches: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_batches`` fresh batches of Lasagne's ``gen_data``, each centred on its own as there,
    stacked: x (n_batches*N_BATCH, MAX_LENGTH, 2), y (n_batches*N_BATCH,), mask (…, MAX_LENGTH)."""
    parts = [gen_data(N_BATCH, MIN_LENGTH, MAX_LENGTH, rng) for _ in range(n_batches)]
    x, y, mask = (np.concatenate(p) for p in zip(*parts))
    return x, y, mask


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Lasagne's recurrent.py: a bidirectional RNN learns to add the two marked numbers of "
                    "a sequence of (a, b) pairs, shape (100, 55, 2).",
        epilog=f"Departure from Lasagne: the default learning rate is {LEARNING_RATE} for {NUM_EPOCHS} epochs "
               f"(Lasagne: {LASAGNE_LEARNING_RATE} for {LASAGNE_NUM_EPOCHS}, which ends near 30% of the baseline "
               f"cost and takes about a minute); --lasagne restores Lasagne's rate and epochs.",
    )
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs of {EPOCH_SIZE} batches (default {NUM_EPOCHS}, {NUM_EPOCHS_LSTM} with --lstm, "
                             f"{LASAGNE_NUM_EPOCHS} with --lasagne)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the data and the weights")
    parser.add_argument("--lstm", action="store_true", help="use LSTM(100) instead of SimpleRNN(100)")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"Adagrad's learning rate (default {LEARNING_RATE}; Lasagne's is {LASAGNE_LEARNING_RATE})")
    parser.add_argument("--keras-init", action="store_true",
                        help="keep shapeviz's (Keras's) initialisers instead of Lasagne's He-uniform")
    parser.add_argument("--lasagne", action="store_true",
                        help=f"Lasagne's exact settings: learning rate {LASAGNE_LEARNING_RATE}, {LASAGNE_NUM_EPOCHS} epochs")
    parser.add_argument("--epoch-size", type=int, default=EPOCH_SIZE, help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = LASAGNE_NUM_EPOCHS if args.lasagne else NUM_EPOCHS_LSTM if args.lstm else NUM_EPOCHS
    if args.learning_rate is None:
        args.learning_rate = LASAGNE_LEARNING_RATE if args.lasagne else LEARNING_RATE
    if args.epochs < 1 or args.epoch_size < 1 or not args.learning_rate > 0:
        parser.error("--epochs and the learning rate must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and report. Returns the numbers it printed (for tests):
    ``{"val_costs": [...], "baseline": ..., "final_cost": ..., "seconds": ...}``."""
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()

    model = build_model(args.lstm, args.seed, he_init=not args.keras_init)
    model.compile(loss="mse", optimizer=Adagrad(learning_rate=args.learning_rate, epsilon=1e-6,
                                                 initial_accumulator_value=0.0, clipvalue=GRAD_CLIP))
    x_val, y_val, mask_val = gen_data(N_BATCH, MIN_LENGTH, MAX_LENGTH, rng)  # (100, 55, 2), (100,), (100, 55)
    # predicting the mean of the targets scores their variance (y_val is centred: mean 0)
    baseline = float(np.mean((y_val - y_val.mean()) ** 2))
    rnn = "LSTM" if args.lstm else "SimpleRNN"
    say(f"Bidirectional {rnn}({N_HIDDEN}) -> Dense(1, tanh); input (N_BATCH, MAX_LENGTH, 2) = "
        f"({N_BATCH}, {MAX_LENGTH}, 2), mask ({N_BATCH}, {MAX_LENGTH}); {model.count_params()} parameters")
    init = "Keras's initialisers" if args.keras_init else "He-uniform recurrent weights (Lasagne's)"
    say(f"Adagrad(learning_rate={args.learning_rate}), clipvalue={GRAD_CLIP:g}, {init}, {args.epochs} epochs of "
        f"{args.epoch_size} batches")
    say("Training ...")
    costs = []
    for epoch in range(args.epochs):
        x, y, mask = epoch_data(rng, args.epoch_size)
        # Lasagne draws a new batch every step, so the order is already random
        model.fit(x, y, mask=mask, batch_size=N_BATCH, epochs=1, shuffle=False, verbose=0)
        cost = model.evaluate(x_val, y_val, mask=mask_val, batch_size=N_BATCH)["loss"]
        costs.append(cost)
        say(f"Epoch {epoch} validation cost = {cost:.6f}  (predict-the-mean baseline {baseline:.6f})")
    seconds = time.perf_counter() - start

    pred = model.predict(x_val[:5], mask=mask_val[:5])[:, 0]  # (5,)
    print(f"Learned: validation cost {costs[-1]:.4f} vs {baseline:.4f} for predicting the mean "
          f"({costs[-1] / baseline:.1%} of the baseline) after {args.epochs} epochs, {seconds:.1f} s")
    print("  prediction  target   (centred, as Lasagne)")
    for p, t in zip(pred, y_val[:5]):
        print(f"  {p:+10.4f}  {t:+.4f}")
    return {"val_costs": costs, "baseline": baseline, "final_cost": costs[-1], "seconds": seconds}


if __name__ == "__main__":
    main()
