"""Training: fit/evaluate/predict loops, truncated BPTT, checkpoints and progress display."""

from shapeviz.train.checkpoint import load_weights, save_weights
from shapeviz.train.fit import History, evaluate, fit, predict, train_step

from shapeviz.core.model import register_trainer

# Model.fit, evaluate, predict, save_weights and load_weights call these (the core does not import train)
register_trainer(fit=fit, evaluate=evaluate, predict=predict, save_weights=save_weights, load_weights=load_weights)

__all__ = ["History", "evaluate", "fit", "load_weights", "predict", "save_weights", "train_step"]
