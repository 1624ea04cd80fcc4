"""A bidirectional two-layer LSTM sentiment model (as in bentrevett's pytorch-sentiment-analysis): the
final hidden states of the last layer's two directions, hidden[-2] and hidden[-1], concatenated.

    shapeviz report examples/torch/sentiment.py:build
"""

import torch
import torch.nn as nn


class Sentiment(nn.Module):
    def __init__(self, vocab_size: int = 1000, embedding_dim: int = 32, hidden_dim: int = 32, output_dim: int = 1,
                 n_layers: int = 2, dropout: float = 0.3, pad_idx: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=True, dropout=dropout,
                            batch_first=True)
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        embedded = self.dropout(self.embedding(text))  # (B, T, E)
        output, (hidden, cell) = self.lstm(embedded)  # (B, T, 2H), (L*2, B, H), (L*2, B, H)
        # the last layer's forward (hidden[-2]) and backward (hidden[-1]) final states
        hidden = self.dropout(torch.cat((hidden[-2], hidden[-1]), dim=1))  # (B, 2H)
        return self.fc(hidden)  # (B, 1) logits


def build() -> nn.Module:
    torch.manual_seed(0)
    model = Sentiment()
    model.inputs = "(B, T)"  # token ids
    return model
