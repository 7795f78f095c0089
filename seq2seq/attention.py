"""The attention family of the RNN models (see the "about" tab and shared design notes).

A decoder state ``s`` (the query, [B, Dq]) scores every encoder state ``h_i`` (keys, [B, S, Dk]);
a softmax over the real (unpadded) source positions turns scores into weights ``a``, and the
context is ``c = sum_i a_i h_i``.

    dot         s^T h_i                         Luong et al. 2015
    scaled_dot  s^T h_i / sqrt(n)               Vaswani et al. 2017
    general     s^T W_a h_i                     Luong et al. 2015
    concat      v_a^T tanh(W_q s + W_k h_i)     Bahdanau et al. 2015 ("additive")
    cosine      beta * cos(s, h_i)              Graves et al. 2014 (content-based), beta learned
    location    (W_a s)_i                       Luong et al. 2015: depends on the target state only

``local=True`` is Luong's local-p attention: a predicted centre ``p = S * sigmoid(v_p^T tanh(W_p s))``
(S the source length), weights only inside ``[p - D, p + D]``, multiplied by a Gaussian
``exp(-(i - p)^2 / (2 (D/2)^2))``. We renormalise after the Gaussian (softmax of score + log-Gaussian
over the window) so that, as for every other kind, the weights are a distribution over the source.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .model import masked_softmax

SCORES = ("dot", "scaled_dot", "general", "concat", "cosine", "location")


class Attention(nn.Module):
    def __init__(self, score: str, query_dim: int, key_dim: int, attention_dim: int | None = None,
                 max_positions: int = 256, local: bool = False, window: int = 8):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"unknown attention score {score!r}; choose from {', '.join(SCORES)}")
        if score in ("dot", "scaled_dot", "cosine") and query_dim != key_dim:
            raise ValueError(f"{score} attention needs query and key sizes equal, got {query_dim} and {key_dim}")
        self.score, self.local, self.window, self.max_positions = score, local, window, max_positions
        attention_dim = attention_dim or key_dim
        if score == "general":
            self.W_a = nn.Linear(key_dim, query_dim, bias=False)           # applied to the keys once
        elif score == "concat":
            self.W_k = nn.Linear(key_dim, attention_dim, bias=False)       # applied to the keys once
            self.W_q = nn.Linear(query_dim, attention_dim)
            self.v_a = nn.Linear(attention_dim, 1, bias=False)
        elif score == "cosine":
            self.log_beta = nn.Parameter(torch.tensor(math.log(10.0)))
        elif score == "location":
            self.W_a = nn.Linear(query_dim, max_positions)
        if local:
            self.W_p = nn.Linear(query_dim, attention_dim)
            self.v_p = nn.Linear(attention_dim, 1, bias=False)

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        """What depends on the encoder only, computed once per sentence: [B, S, *]."""
        if self.score == "general":
            return self.W_a(keys)
        if self.score == "concat":
            return self.W_k(keys)
        if self.score == "cosine":
            return nn.functional.normalize(keys, dim=-1)
        return keys

    def forward(self, query: torch.Tensor, keys: torch.Tensor, projected: torch.Tensor, mask: torch.Tensor):
        """query [B, Dq], keys [B, S, Dk], projected = precompute(keys), mask [B, S] (True = real).
        Returns the context [B, Dk] and the weights [B, S]."""
        if self.score in ("dot", "general"):
            scores = torch.einsum("bd,bsd->bs", query, projected)
        elif self.score == "scaled_dot":
            scores = torch.einsum("bd,bsd->bs", query, projected) / math.sqrt(query.size(-1))
        elif self.score == "concat":
            scores = self.v_a(torch.tanh(self.W_q(query)[:, None] + projected)).squeeze(-1)
        elif self.score == "cosine":
            scores = self.log_beta.exp() * torch.einsum("bd,bsd->bs", nn.functional.normalize(query, dim=-1), projected)
        else:  # location
            scores = self.W_a(query)[:, : keys.size(1)]
        if self.local:
            scores = scores + self.local_log_gaussian(query, mask)
            mask = mask & (scores > float("-inf"))
        weights = masked_softmax(scores, mask)
        return torch.einsum("bs,bsd->bd", weights, keys), weights

    def local_log_gaussian(self, query: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, S]: log of the Gaussian around the predicted position, -inf outside the window."""
        lengths = mask.sum(dim=1, keepdim=True).float()                       # [B, 1]
        p = (lengths - 1) * torch.sigmoid(self.v_p(torch.tanh(self.W_p(query))))  # [B, 1] in [0, S-1]
        i = torch.arange(mask.size(1), device=query.device, dtype=torch.float32)[None]
        sigma = self.window / 2
        log_g = -((i - p) ** 2) / (2 * sigma ** 2)
        return log_g.masked_fill((i - p).abs() > self.window, float("-inf"))
