"""Training: fit/evaluate/predict loops, truncated BPTT, checkpoints and progress display."""

from shapeviz.core.model import register_trainer
from shapeviz.train import checkpoint as _checkpoint, fit as _fit  # the modules (the imports below rebind fit)
from shapeviz.train.checkpoint import load_weights, save_weights
from shapeviz.train.fit import History, evaluate, fit, predict, train_step

# Model.fit, evaluate, predict, save_weights and load_weights call these modules' functions (the core
# does not import train)
register_trainer(fit=_fit, evaluate=_fit, predict=_fit, save_weights=_checkpoint, load_weights=_checkpoint)

__all__ = ["History", "evaluate", "fit", "load_weights", "predict", "save_weights", "train_step"]
