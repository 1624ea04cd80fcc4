"""Training: fit/evaluate/predict loops, truncated BPTT, checkpoints and progress display."""

from shapeviz.train.checkpoint import load_weights, save_weights
from shapeviz.train.fit import History, evaluate, fit, predict, train_step

__all__ = ["History", "evaluate", "fit", "load_weights", "predict", "save_weights", "train_step"]
