"""The two architectures and their compute count (multiply-accumulates of one forward pass of one sequence).

lstm:        nn.LSTM (hidden_size units, `layers` layers, dropout between layers), the last step's output through
             dropout and a linear head.
transformer: a linear embedding to `width`, a learned position embedding, `layers` pre-norm encoder layers
             (`heads` heads, feed-forward 2 x width, dropout), a final LayerNorm, the last position through a linear
             head. The width is hidden_size rounded up to a multiple of heads.
Both predict the standardized target of the sequence's last day.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

ARCHITECTURES = ("lstm", "transformer")
FEED_FORWARD = 2  # the transformer's feed-forward width, in multiples of its width


@dataclass(frozen=True)
class NetConfig:
    architecture: str
    features: int
    hidden_size: int
    layers: int
    heads: int
    dropout: float
    sequence_length: int

    @property
    def width(self) -> int:
        """The transformer's model width: hidden_size rounded up to a multiple of heads."""
        return self.heads * math.ceil(self.hidden_size / self.heads)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LSTMNet(nn.Module):
    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            config.features,
            config.hidden_size,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        prediction: torch.Tensor = self.head(self.drop(out[:, -1])).squeeze(-1)
        return prediction


class TransformerNet(nn.Module):
    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        width = config.width
        self.embed = nn.Linear(config.features, width)
        self.position = nn.Parameter(torch.randn(config.sequence_length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width,
            config.heads,
            dim_feedforward=FEED_FORWARD * width,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(self.embed(x) + self.position)
        prediction: torch.Tensor = self.head(self.norm(hidden[:, -1])).squeeze(-1)
        return prediction


def build(config: NetConfig) -> nn.Module:
    if config.architecture == "lstm":
        return LSTMNet(config)
    if config.architecture == "transformer":
        return TransformerNet(config)
    raise ValueError(f"architecture {config.architecture!r}: use one of {list(ARCHITECTURES)}")


def forward_macs(config: NetConfig) -> int:
    """Multiply-accumulates of one forward pass of one sequence (the matrix products; element-wise work, the
    softmax and the norms are left out: they are a few percent here).

    lstm, per step and layer: 4 gates x hidden x (layer input + hidden); times the sequence length; plus the head.
    transformer, per layer: 4 x length x width^2 (queries, keys, values, output), 2 x length^2 x width (scores and
    their weighted sum), 2 x length x width x feed-forward width; plus the embedding (length x features x width)
    and the head.
    """
    n = config.sequence_length
    if config.architecture == "lstm":
        h = config.hidden_size
        per_step = sum(4 * h * ((config.features if layer == 0 else h) + h) for layer in range(config.layers))
        return n * per_step + h
    d = config.width
    per_layer = 4 * n * d * d + 2 * n * n * d + 2 * n * d * FEED_FORWARD * d
    return n * config.features * d + config.layers * per_layer + d


def elementwise_units(config: NetConfig) -> tuple[int, int]:
    """What the matrix products leave out, per sequence: (hidden or width units x steps x layers, attention scores x
    heads x layers). Timed on the CPU (trainer.py's epoch_compute), they cost as much as the products for the
    smallest networks: gates, activations, norms, dropout and softmax run per element, in small tensors."""
    n = config.sequence_length
    if config.architecture == "lstm":
        return n * config.layers * config.hidden_size, 0
    return n * config.layers * config.width, config.layers * config.heads * n * n
