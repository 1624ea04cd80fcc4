"""The sentiment model of sentiment.py with packed sequences: the padded ids and their lengths go in,
pack_padded_sequence makes the LSTM stop at each review's last real token.

shapeviz draws and tables it as (B, T) ids plus lengths (B,), the padded steps masked.

    shapeviz report examples/torch/packed_sentiment.py:build
"""

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class PackedSentiment(nn.Module):
    def __init__(self, vocab_size: int = 1000, embedding_dim: int = 32, hidden_dim: int = 32, output_dim: int = 1,
                 n_layers: int = 2, dropout: float = 0.3, pad_idx: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=True, dropout=dropout,
                            batch_first=True)
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text: torch.Tensor, text_lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.dropout(self.embedding(text))  # (B, T, E)
        packed = pack_padded_sequence(embedded, text_lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_output, (hidden, cell) = self.lstm(packed)
        output, output_lengths = pad_packed_sequence(packed_output, batch_first=True)  # (B, T, 2H), zeros padded
        hidden = self.dropout(torch.cat((hidden[-2], hidden[-1]), dim=1))  # (B, 2H)
        return self.fc(hidden)  # (B, 1) logits


def build() -> nn.Module:
    torch.manual_seed(0)
    model = PackedSentiment()
    model.inputs = ("(B, T)", "(B,)")  # token ids, and each review's length
    return model
