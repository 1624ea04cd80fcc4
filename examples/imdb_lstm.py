"""Keras's ``examples/imdb_lstm.py`` (sentiment of IMDB reviews) on shapeviz's numpy core.

The reviews are lists of word ids (1 = the most frequent word); ``load_data`` keeps the
``max_features`` = 20,000 most frequent and ``pad_sequences`` cuts or pads each review to
``maxlen`` = 80, so a batch is ``(batch_size, maxlen)`` = ``(32, 80)`` integer ids. Then, as
in Keras::

    Embedding(20000, 128)                          (32, 80)      -> (32, 80, 128)
    LSTM(128, dropout=0.2, recurrent_dropout=0.2)  (32, 80, 128) -> (32, 128)   last step only
    Dense(1, activation="sigmoid")                 (32, 128)     -> (32, 1)

trained with Adam on binary cross-entropy, batch 32.

Data: by default a synthetic IMDB-shaped corpus (:func:`shapeviz.datasets.synthetic_imdb`:
Zipf-distributed word ids, IMDB-like lengths, sentiment carried by a positive and a negative
set of words), written in memory in the raw format of Keras's ``imdb.npz`` and processed
exactly as the real file. ``--data PATH`` reads a real ``imdb.npz`` instead (a file you
trust: it is read with pickling allowed, as Keras does).

Departure from Keras, and why: Keras trains 15 epochs on all 25,000 reviews and evaluates on
25,000. That is hours in numpy, so by default this trains one epoch on 8,000 reviews and
tests on 5,000 (about 30 s on 2 cores); ``--train-size``, ``--test-size`` (0 = all of the
split) and ``--epochs`` change that, and the script says what it used.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Sequence

# One LSTM step is a (32, 128) @ (128, 512) matmul: OpenBLAS's threads cost more than they save
# there, and on a busy 2-core machine training ran 10x slower with them (measured: 30 s against
# 3 s for 640 reviews). Effective only when set before numpy loads, i.e. when run as a script.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from shapeviz.core.dense import Dense  # noqa: E402
from shapeviz.core.embedding import Embedding  # noqa: E402
from shapeviz.core.lstm import LSTM  # noqa: E402
from shapeviz.core.sequential import Sequential  # noqa: E402
from shapeviz.datasets.imdb import load_data, pad_sequences, prepare, synthetic_imdb  # noqa: E402

max_features = 20000  # Keras's names for the example's settings
maxlen = 80  # cut texts after this number of words (among the top max_features most common words)
batch_size = 32
TRAIN_SIZE = 8000
TEST_SIZE = 5000
EPOCHS = 1
KERAS_EPOCHS = 15
EVAL_BATCH = 500  # evaluate's result does not depend on the batch size; bigger batches are faster


def build_model(seed: int | None = None) -> Sequential:
    """Keras's imdb_lstm model: ids (B, 80) -> (B, 80, 128) -> (B, 128) -> P(positive) (B, 1)."""
    return Sequential([
        Embedding(max_features, 128),
        LSTM(128, dropout=0.2, recurrent_dropout=0.2),
        Dense(1, activation="sigmoid"),
    ], seed=seed)


def _subset(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` reviews (all for 0); load_data has shuffled them already."""
    return (x, y) if n == 0 or n >= len(x) else (x[:n], y[:n])


def load(args: argparse.Namespace, say: Any) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` after load_data's processing, before padding."""
    if args.data:
        say(f"Loading data from {args.data} ...")
        (x_train, y_train), (x_test, y_test) = load_data(args.data, num_words=max_features)
        n_train, n_test = len(x_train), len(x_test)
        (x_train, y_train), (x_test, y_test) = (_subset(x_train, y_train, args.train_size),
                                                _subset(x_test, y_test, args.test_size))
        if len(x_train) < n_train or len(x_test) < n_test:
            say(f"Using {len(x_train)} of {n_train} train and {len(x_test)} of {n_test} test reviews "
                "(--train-size, --test-size; 0 for all)")
        return (x_train, y_train), (x_test, y_test)
    n_train = args.train_size or 25000
    n_test = args.test_size or 25000
    say(f"Generating a synthetic IMDB-shaped corpus: {n_train} train and {n_test} test reviews "
        "(the real one has 25000 and 25000; --train-size, --test-size, or --data PATH for Keras's imdb.npz) ...")
    raw = synthetic_imdb(n_train, n_test, num_words=max_features, seed=args.seed)
    return prepare(raw, num_words=max_features)  # what load_data does to the file's arrays


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Keras's imdb_lstm.py: Embedding(20000, 128) -> LSTM(128) -> Dense(1, sigmoid) classifies "
                    "reviews, batches of (32, 80) word ids.",
        epilog=f"Departure from Keras: {EPOCHS} epoch on {TRAIN_SIZE} reviews, tested on {TEST_SIZE}, by default "
               f"(Keras: {KERAS_EPOCHS} epochs on 25000, tested on 25000: hours in numpy).",
    )
    parser.add_argument("--data", metavar="PATH", help="a Keras imdb.npz file (default: a synthetic corpus)")
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE, help=f"train reviews (default {TRAIN_SIZE}; 0 = all)")
    parser.add_argument("--test-size", type=int, default=TEST_SIZE, help=f"test reviews (default {TEST_SIZE}; 0 = all)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs (default {EPOCHS}; Keras: {KERAS_EPOCHS})")
    parser.add_argument("--seed", type=int, default=0, help="seeds the synthetic corpus, the weights, shuffling and dropout")
    parser.add_argument("--quiet", action="store_true", help="print only the final summary")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.train_size < 0 or args.test_size < 0:
        parser.error("--epochs must be positive and the sizes non-negative")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train and report. Returns the numbers it printed (for tests):
    ``{"test_loss", "test_accuracy", "chance", "history", "seconds"}``."""
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    start = time.perf_counter()

    (x_train, y_train), (x_test, y_test) = load(args, say)
    say(len(x_train), "train sequences")
    say(len(x_test), "test sequences")
    say("Pad sequences (samples x time)")
    x_train = pad_sequences(x_train, maxlen=maxlen)  # (N_train, 80) int32
    x_test = pad_sequences(x_test, maxlen=maxlen)  # (N_test, 80) int32
    say("x_train shape:", x_train.shape)
    say("x_test shape:", x_test.shape)

    say("Build model...")
    model = build_model(args.seed)
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.build((None, maxlen))
    say(f"{model.count_params()} parameters; batches of (batch_size, maxlen) = ({batch_size}, {maxlen}) ids")

    say("Train...")
    # Keras validates on the test set after every epoch; with one epoch that would only repeat
    # the final evaluation, so it is done only when there are several
    validation = (x_test, y_test) if args.epochs > 1 else None
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=args.epochs, validation_data=validation,
                        seed=args.seed, verbose=0 if args.quiet else 2)
    scores = model.evaluate(x_test, y_test, batch_size=EVAL_BATCH)
    seconds = time.perf_counter() - start
    say("Test score:", round(scores["loss"], 4))
    say("Test accuracy:", round(scores["accuracy"], 4))

    chance = float(max(y_test.mean(), 1.0 - y_test.mean()))  # always guessing the majority label
    print(f"Learned: test accuracy {scores['accuracy']:.1%} vs {chance:.1%} by chance (majority label), "
          f"test loss {scores['loss']:.4f} vs {np.log(2):.4f} for a coin flip; trained {args.epochs} epoch(s) "
          f"on {len(x_train)} reviews, tested on {len(x_test)}, {seconds:.1f} s")
    probs = model.predict(x_test[:6], batch_size=EVAL_BATCH)[:, 0]  # (6,)
    print("  P(positive)  label")
    for p, label in zip(probs, y_test[:6]):
        print(f"  {p:11.3f}  {'positive' if label else 'negative'}")
    return {"test_loss": scores["loss"], "test_accuracy": scores["accuracy"], "chance": chance,
            "history": history.history, "seconds": seconds}


if __name__ == "__main__":
    main()
