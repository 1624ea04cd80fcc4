"""Karpathy's five sequence modes, each as a tiny shapeviz model trained on a toy task.

    python examples/five_modes.py

For every mode it prints the input and output shapes and the loss before and after
training. The tasks are small enough that each model fits them in a few seconds:

1. one-to-one           (B, 4)      -> (B, 3)      classify a point by its largest coordinate
2. one-to-many          (B, 2)      -> (B, 6, 2)   rotate a vector a little at every step (fed-back outputs)
3. many-to-one          (B, 8, 1)   -> (B, 1)      the sum of a sequence
4. many-to-many         (B, 6, 3)   -> (B, 4, 3)   the last four steps of a sequence, reversed (encoder-decoder)
5. synced many-to-many  (B, 8, 1)   -> (B, 8, 1)   the running sum at every step
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shapeviz import GRU, LSTM, Dense, EncoderDecoder, OneToMany, Sequential, SimpleRNN
from shapeviz.core.losses import SoftmaxCrossEntropy

# Models and layers are named (layers within each model: dense_1, dense_2): an automatic name counts
# every layer the process has built, so the third model's head would be dense_4, whatever came before.


def one_to_one(rng: np.random.Generator, n: int):
    x = rng.normal(size=(n, 4))
    y = np.argmax(x[:, :3], axis=1)  # (B,) class ids
    model = Sequential([Dense(16, activation="tanh", name="dense_1"), Dense(3, name="dense_2")], name="one_to_one",
                       seed=0)
    model.compile(SoftmaxCrossEntropy(from_logits=True), "adam", learning_rate=0.01)
    return model, x, y


def one_to_many(rng: np.random.Generator, n: int):
    angle = rng.uniform(0, 2 * np.pi, size=n)
    x = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (B, 2)
    steps = np.arange(1, 7) * 0.3  # each step turns the vector by 0.3 rad
    y = np.stack([np.cos(angle[:, None] + steps), np.sin(angle[:, None] + steps)], axis=2)  # (B, 6, 2)
    model = OneToMany([LSTM(24, name="lstm_1")], Dense(2, activation="tanh", name="dense_1"), steps=6,
                      feedback="outputs", name="one_to_many", seed=0)
    model.compile("mse", "adam", learning_rate=0.01)
    return model, x, y


def many_to_one(rng: np.random.Generator, n: int):
    x = rng.uniform(-1, 1, size=(n, 8, 1))
    y = x.sum(axis=1) / 4.0  # (B, 1)
    model = Sequential([GRU(16, name="gru_1"), Dense(1, name="dense_1")], name="many_to_one", seed=0)
    model.compile("mse", "adam", learning_rate=0.01)
    return model, x, y


def encoder_decoder(rng: np.random.Generator, n: int):
    x = rng.uniform(-1, 1, size=(n, 6, 3))
    y = x[:, :-5:-1]  # (B, 4, 3): the last four steps, last first
    model = EncoderDecoder([LSTM(32, name="lstm_1")], [LSTM(32, name="lstm_2")], Dense(3, name="dense_1"),
                           name="many_to_many", seed=0)
    model.compile("mse", "adam", learning_rate=0.01)
    return model, (x, EncoderDecoder.teacher_inputs(y)), y


def synced(rng: np.random.Generator, n: int):
    x = rng.uniform(-1, 1, size=(n, 8, 1))
    y = np.cumsum(x, axis=1) / 4.0  # (B, 8, 1)
    model = Sequential([SimpleRNN(16, return_sequences=True, name="simple_rnn_1"), Dense(1, name="dense_1")],
                       name="synced_many_to_many", seed=0)
    model.compile("mse", "adam", learning_rate=0.01)
    return model, x, y


MODES = [
    ("one-to-one", one_to_one),
    ("one-to-many", one_to_many),
    ("many-to-one", many_to_one),
    ("many-to-many (encoder-decoder)", encoder_decoder),
    ("synced many-to-many", synced),
]


def shape_of(x) -> str:
    if isinstance(x, tuple):
        return "+".join(str(a.shape) for a in x)
    return str(x.shape)


def run(epochs: int = 60, n: int = 256, seed: int = 0, verbose: bool = True) -> dict[str, tuple[float, float]]:
    """Train one tiny model per mode; returns {mode: (loss before, loss after)}."""
    results = {}
    for name, make in MODES:
        rng = np.random.default_rng(seed)
        model, x, y = make(rng, n)
        before = model.evaluate(x, y)["loss"]
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=epochs, seed=seed, verbose=0)
        after = model.evaluate(x, y)["loss"]
        results[name] = (before, after)
        if verbose:
            out = model.predict(x[:2] if not isinstance(x, tuple) else (x[0][:2], x[1][:2]))
            print(f"{name:31s} in {shape_of(x):24s} out {str(out.shape[1:]):8s} "
                  f"loss {before:.4f} -> {after:.4f}  ({time.perf_counter() - start:.1f} s, {model.mode})")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.epochs, args.samples, args.seed)


if __name__ == "__main__":
    main()
