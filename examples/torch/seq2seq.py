"""A teacher-forced GRU encoder-decoder (the architecture of PyTorch's "NLP From Scratch: Translation with
a Sequence to Sequence Network"), written so that torch.fx can trace it: the decoder reads the whole
target shifted right in one call (teacher forcing) instead of a Python loop over its own outputs.

    shapeviz report examples/torch/seq2seq.py:build
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class EncoderDecoder(nn.Module):
    def __init__(self, src_vocab: int = 30, tgt_vocab: int = 32, hidden_size: int = 32) -> None:
        super().__init__()
        self.src_embedding = nn.Embedding(src_vocab, hidden_size)
        self.encoder = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab, hidden_size)
        self.decoder = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, tgt_vocab)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        _, hidden = self.encoder(self.src_embedding(source))  # (1, B, H): the encoder's summary
        embedded = F.relu(self.tgt_embedding(target_in))  # (B, T_out, H)
        decoded, _ = self.decoder(embedded, hidden)  # (B, T_out, H), started from the encoder's state
        return F.log_softmax(self.out(decoded), dim=-1)  # (B, T_out, V)


def build() -> nn.Module:
    torch.manual_seed(0)
    model = EncoderDecoder()
    model.inputs = ("(B, T_in)", "(B, T_out)")  # source ids, target ids shifted right
    return model
