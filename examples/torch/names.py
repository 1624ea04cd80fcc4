"""The classic character-level name classifier (PyTorch's "NLP From Scratch: Classifying Names with a
Character-Level RNN"): one-hot letters through an nn.RNN, the last step through a Linear, LogSoftmax.

As in the tutorial the RNN is time-major (batch_first=False): names come in as (T, B, 57).

    shapeviz report examples/torch/names.py:build
"""

import torch
import torch.nn as nn

N_LETTERS = 57  # string.ascii_letters + " .,;'"
N_CATEGORIES = 18  # the tutorial's languages


class CharRNN(nn.Module):
    def __init__(self, n_letters: int = N_LETTERS, n_hidden: int = 128, n_categories: int = N_CATEGORIES) -> None:
        super().__init__()
        self.rnn = nn.RNN(n_letters, n_hidden)
        self.h2o = nn.Linear(n_hidden, n_categories)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor: torch.Tensor) -> torch.Tensor:
        rnn_out, hidden = self.rnn(line_tensor)  # (T, B, H), (1, B, H)
        output = self.h2o(rnn_out[-1])  # the last step: (B, H) -> (B, C)
        return self.softmax(output)


def build() -> nn.Module:
    torch.manual_seed(0)
    model = CharRNN()
    model.inputs = f"(T, B, {N_LETTERS})"  # what shapeviz reads: one-hot letters, time-major
    return model
