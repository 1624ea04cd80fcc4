"""Make the Keras example files shapeviz's README opens: the seed's imdb_lstm and Keras's lstm_seq2seq,
built and saved by real Keras (run only where Keras is installed; shapeviz reads the files without it).

    KERAS_BACKEND=torch python examples/keras/make_models.py

Both are small (a 1000-word vocabulary, 32 units) so the files stay well under 1 MB; the weights
are Keras's initial ones, seeded, so the files are the same on every run of the same Keras.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = Path(__file__).parent


def imdb_lstm() -> keras.Model:
    """The seed's examples/imdb_lstm.py: word ids -> Embedding -> LSTM with dropout -> sigmoid."""
    return keras.Sequential([
        keras.Input(shape=(None,), name="words"),
        layers.Embedding(1000, 32),
        layers.LSTM(32, dropout=0.2, recurrent_dropout=0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="imdb_lstm")


def lstm_seq2seq() -> keras.Model:
    """Keras's lstm_seq2seq example (character-level translation), with 32 units: the encoder's
    final states start the decoder."""
    num_encoder_tokens, num_decoder_tokens, latent_dim = 71, 93, 32
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens), name="encoder_inputs")
    _, state_h, state_c = layers.LSTM(latent_dim, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens), name="decoder_inputs")
    decoder_outputs = layers.LSTM(latent_dim, return_sequences=True, name="decoder")(
        decoder_inputs, initial_state=[state_h, state_c])
    outputs = layers.Dense(num_decoder_tokens, activation="softmax", name="decoder_dense")(decoder_outputs)
    return keras.Model([encoder_inputs, decoder_inputs], outputs, name="lstm_seq2seq")


def main() -> None:
    for make in (imdb_lstm, lstm_seq2seq):
        keras.utils.set_random_seed(0)
        model = make()
        model.compile(optimizer="adam", loss="binary_crossentropy" if make is imdb_lstm
                      else "categorical_crossentropy")
        path = HERE / f"{make.__name__}.keras"
        model.save(path)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB, Keras {keras.__version__})")
        model.summary()


if __name__ == "__main__":
    main()
