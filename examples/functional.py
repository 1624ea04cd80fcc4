"""Three Keras functional-API models on shapeviz's numpy core: built with ``Input`` and
``Model(inputs=, outputs=)``, traced and reported, and trained a few epochs on generated data.

- ``seq2seq``: Keras's ``lstm_seq2seq``. Two inputs: the encoder reads the source
  (B, T_in, V_src) and hands its final states ``[h, c]`` to the decoder as ``initial_state``;
  the decoder reads the target shifted right (teacher forcing, (B, T_out, V_tgt)) and a
  softmax Dense maps every step to the next character. The task here: write the source
  digits reversed, then an end token. (Keras's sizes are 71 / 93 characters and 256 units; the
  script uses small ones so that it trains in seconds.)
- ``addition``: Keras's ``addition_rnn``. An LSTM encodes the question ``"12+345"`` (one-hot
  characters, (B, MAXLEN, 12)) into one vector; ``RepeatVector`` turns it into a sequence of
  DIGITS + 1 steps (the one-to-many part), a decoder LSTM with ``return_sequences`` and a
  ``TimeDistributed(Dense(12, softmax))`` spell the answer.
- ``classifier``: a text classifier. Token ids (0 is padding) -> ``Embedding(mask_zero)`` ->
  ``Bidirectional(GRU, return_sequences)`` -> ``GlobalAveragePooling1D`` and
  ``GlobalMaxPooling1D`` (both leave the padding out, through the mask) -> ``Concatenate`` ->
  ``Dense(1, sigmoid)``. The generated reviews are positive when they hold more "good" words
  than "bad" ones.

Training uses ``Model.fit`` as for a Sequential: a one-input graph trains with the array, the
seq2seq model with the list of its two inputs, ``[source, decoder_inputs]``, in the order of
``Model(inputs=[...])``. Run ``python examples/functional.py --help`` for the flags; the
specs ``examples/specs/seq2seq_graph.toml`` and ``pooled_bigru.toml`` describe the first and
the last model as data.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable, Sequence

# The time loops run many small matmuls, which OpenBLAS's threads slow down (see addition.py).
# Effective only when set before numpy loads, i.e. when run as a script.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import shapeviz  # noqa: E402
from shapeviz import (GRU, LSTM, Bidirectional, Concatenate, Dense, Embedding, GlobalAveragePooling1D,  # noqa: E402
                      GlobalMaxPooling1D, Input, Model, RepeatVector, TimeDistributed)

# -- seq2seq (Keras lstm_seq2seq) ----------------------------------------------------------------
SRC_TOKENS = 10  # the digits 0-9, one-hot
TGT_TOKENS = 12  # the digits, a start token and an end token
START, END = 10, 11
SRC_LEN = 5


def build_seq2seq(latent_dim: int = 32, seed: int = 0) -> Any:
    """Keras's lstm_seq2seq training model: ``Model([encoder_inputs, decoder_inputs], decoder_outputs)``."""
    encoder_inputs = Input("(B, T_in, 10)", name="encoder_inputs")  # (B, T_in, SRC_TOKENS)
    _, state_h, state_c = LSTM(latent_dim, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = Input("(B, T_out, 12)", name="decoder_inputs")  # (B, T_out, TGT_TOKENS)
    decoder_outputs, _, _ = LSTM(latent_dim, return_sequences=True, return_state=True,
                                 name="decoder")(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = Dense(TGT_TOKENS, activation="softmax", name="decoder_dense")(decoder_outputs)
    return Model(inputs=[encoder_inputs, decoder_inputs], outputs=decoder_outputs, name="seq2seq", seed=seed)


def seq2seq_data(n: int, rng: np.random.Generator) -> tuple[list, np.ndarray]:
    """Digits in, the digits reversed then END out. Returns ``[source (n, 5, 10), decoder inputs
    (n, 6, 12)]`` and the one-hot targets (n, 6, 12): the decoder inputs are the targets shifted
    right by one step, START first (teacher forcing)."""
    digits = rng.integers(0, 10, (n, SRC_LEN))  # (n, 5)
    target = np.concatenate([digits[:, ::-1], np.full((n, 1), END)], axis=1)  # (n, 6)
    shifted = np.concatenate([np.full((n, 1), START), target[:, :-1]], axis=1)  # (n, 6)
    eye_src, eye_tgt = np.eye(SRC_TOKENS, dtype=np.float32), np.eye(TGT_TOKENS, dtype=np.float32)
    return [eye_src[digits], eye_tgt[shifted]], eye_tgt[target]


# -- addition (Keras addition_rnn) -----------------------------------------------------------------
CHARS = "0123456789+ "


def build_addition(digits: int = 2, hidden: int = 64, seed: int = 0) -> Any:
    """Keras's addition_rnn: LSTM encoder -> RepeatVector(DIGITS + 1) -> LSTM decoder ->
    TimeDistributed(Dense(len(chars), softmax))."""
    maxlen = digits + 1 + digits
    question = Input(f"(B, {maxlen}, {len(CHARS)})", name="question")  # (B, MAXLEN, 12)
    encoded = LSTM(hidden, name="encoder")(question)  # (B, H)
    repeated = RepeatVector(digits + 1, name="repeat")(encoded)  # (B, DIGITS + 1, H)
    decoded = LSTM(hidden, return_sequences=True, name="decoder")(repeated)  # (B, DIGITS + 1, H)
    answer = TimeDistributed(Dense(len(CHARS), activation="softmax", name="char"), name="per_step")(decoded)
    return Model(inputs=question, outputs=answer, name="addition_rnn", seed=seed)


def addition_data(n: int, digits: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Questions ``"a+b"`` padded with spaces to ``2 * digits + 1``, reversed as Keras does (REVERSE =
    True), and their answers padded to ``digits + 1``, both one-hot: (n, MAXLEN, 12), (n, DIGITS + 1, 12)."""
    a = rng.integers(0, 10 ** digits, n)
    b = rng.integers(0, 10 ** digits, n)
    maxlen = 2 * digits + 1
    questions = [f"{x}+{y}".ljust(maxlen)[::-1] for x, y in zip(a, b)]
    answers = [str(x + y).ljust(digits + 1) for x, y in zip(a, b)]
    index = {c: i for i, c in enumerate(CHARS)}
    eye = np.eye(len(CHARS), dtype=np.float32)
    x = eye[np.array([[index[c] for c in q] for q in questions])]  # (n, MAXLEN, 12)
    y = eye[np.array([[index[c] for c in s] for s in answers])]  # (n, DIGITS + 1, 12)
    return x, y


# -- classifier (bidirectional GRU, two poolings concatenated) ------------------------------------
VOCAB = 200
GOOD, BAD = range(3, 13), range(13, 23)  # the word ids that carry the sentiment


def build_classifier(embed: int = 16, units: int = 16, seed: int = 0) -> Any:
    """Ids (B, T) -> Embedding -> Bidirectional(GRU) sequence -> [average; max] over time -> Dense(1)."""
    tokens = Input("(B, T)", name="tokens", dtype="int64")
    x = Embedding(VOCAB, embed, mask_zero=True, name="embedding")(tokens)  # (B, T, E), mask (B, T)
    seq = Bidirectional(GRU(units, return_sequences=True), name="bigru")(x)  # (B, T, 2U)
    avg = GlobalAveragePooling1D(name="avg_pool")(seq)  # (B, 2U), masked steps left out
    top = GlobalMaxPooling1D(name="max_pool")(seq)  # (B, 2U)
    pooled = Concatenate(name="pooled")([avg, top])  # (B, 4U)
    out = Dense(1, activation="sigmoid", name="prediction")(pooled)  # (B, 1)
    return Model(inputs=tokens, outputs=out, name="pooled_bigru", seed=seed)


def classifier_data(n: int, maxlen: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reviews of 8 to ``maxlen`` words, padded in front with 0; label 1 when more good words than bad
    (ties broken by one more word). Returns ids (n, maxlen) int64 and labels (n, 1)."""
    ids = np.zeros((n, maxlen), dtype=np.int64)
    labels = np.zeros((n, 1), dtype=np.float32)
    for i in range(n):
        length = int(rng.integers(8, maxlen + 1))
        words = rng.integers(23, VOCAB, length)
        k = int(rng.integers(1, 4))
        positive = rng.random() < 0.5
        slots = rng.choice(length, 2 * k + 1, replace=False)
        good = rng.choice(list(GOOD), k + positive)
        bad = rng.choice(list(BAD), k + (not positive))
        words[slots] = np.concatenate([good, bad])
        ids[i, maxlen - length:] = words
        labels[i, 0] = float(positive)
    return ids, labels


# -- reporting --------------------------------------------------------------------------------------
def report(model: Any, inputs: Any, dims: dict[str, int], labels: str, show: Callable[[Any], None]) -> Any:
    """Trace ``model`` on symbolic declarations (by input name) and show its summary table."""
    trace = shapeviz.trace(model, inputs, dims=dims, labels=labels)
    from shapeviz.render import summary_table

    show(summary_table(trace))
    return trace


def accuracy_per_step(model: Any, x: Any, y: np.ndarray) -> float:
    """The share of steps (characters) whose most likely token is right."""
    p = model.predict(x, batch_size=256)
    return float(np.mean(p.argmax(-1) == y.argmax(-1)))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="seq2seq,addition,classifier",
                        help="which models to run, comma-separated (default: all three)")
    parser.add_argument("--samples", type=int, default=2000, help="training samples per model (default 2000)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per model (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the data, the weights and the shuffling")
    parser.add_argument("--quiet", action="store_true", help="print only one line per model")
    args = parser.parse_args(argv)
    unknown = set(args.models.split(",")) - {"seq2seq", "addition", "classifier"}
    if unknown or args.samples < 10 or args.epochs < 1:
        parser.error(f"--models takes seq2seq, addition, classifier (got {sorted(unknown)}); --samples >= 10, "
                     "--epochs >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Build, report and train each model. Returns, per model, its losses before and after
    training, its accuracy, its mode and the shape of its output (for tests)."""
    args = parse_args(argv)
    from rich.console import Console

    console = Console(width=110)
    say = (lambda *a: None) if args.quiet else print
    show = (lambda r: None) if args.quiet else console.print
    rng = np.random.default_rng(args.seed)
    n_test = max(10, args.samples // 5)
    results: dict[str, Any] = {}
    for name in args.models.split(","):
        start = time.perf_counter()
        if name == "seq2seq":
            model = build_seq2seq(seed=args.seed)
            model.compile("categorical_crossentropy", "rmsprop", learning_rate=0.01)  # Keras: rmsprop
            trace = report(model, {"encoder_inputs": "(B, T_in, 10)", "decoder_inputs": "(B, T_out, 12)"},
                           {"B": 64, "T_in": SRC_LEN, "T_out": SRC_LEN + 1}, "(B, T_out, 12)", show)
            x, y = seq2seq_data(args.samples, rng)  # x: [source, decoder inputs], in the order of Model(inputs=)
            x_test, y_test = seq2seq_data(n_test, rng)
            batch = 64
        elif name == "addition":
            digits = 2
            model = build_addition(digits, seed=args.seed)
            model.compile("categorical_crossentropy", "adam", learning_rate=0.01)
            trace = report(model, "(B, 5, 12)", {"B": 128}, "(B, 3, 12)", show)
            x, y = addition_data(args.samples, digits, rng)
            x_test, y_test = addition_data(n_test, digits, rng)
            batch = 128
        else:
            model = build_classifier(seed=args.seed)
            model.compile("binary_crossentropy", "adam", learning_rate=0.01)
            trace = report(model, "(B, T)", {"B": 32, "T": 40}, "(B, 1)", show)
            x, y = classifier_data(args.samples, 40, rng)
            x_test, y_test = classifier_data(n_test, 40, rng)
            batch = 32
        before = model.evaluate(x_test, y_test, batch_size=256)["loss"]
        say(f"Training {model.name} ({trace.mode}): {args.samples} samples, {args.epochs} epochs, batches of {batch}")
        history = model.fit(x, y, batch_size=batch, epochs=args.epochs, seed=args.seed, verbose=0 if args.quiet else 2)
        after = model.evaluate(x_test, y_test, batch_size=256)
        if name == "classifier":
            accuracy = float(after["accuracy"])
        else:
            accuracy = accuracy_per_step(model, x_test, y_test)
        seconds = time.perf_counter() - start
        print(f"{model.name} ({trace.mode}): test loss {before:.3f} -> {after['loss']:.3f}, "
              f"accuracy {accuracy:.1%} ({'per review' if name == 'classifier' else 'per character'}), "
              f"{seconds:.1f} s")
        results[name] = {"loss_before": float(before), "loss_after": float(after["loss"]), "accuracy": accuracy,
                         "mode": trace.mode, "output": str(next(iter(trace.outputs.values()))),
                         "epochs": len(history.history["loss"])}
    return results


if __name__ == "__main__":
    main()
