"""The seed's two example datasets: Lasagne's addition task and Keras's IMDB reviews."""

from shapeviz.datasets.addition import gen_data
from shapeviz.datasets.imdb import load_data, pad_sequences, prepare, read_imdb_npz, save_imdb_npz, synthetic_imdb

__all__ = ["gen_data", "load_data", "pad_sequences", "prepare", "read_imdb_npz", "save_imdb_npz", "synthetic_imdb"]
