"""The attention family of the RNN models (see the "about" tab and shared design notes).

A decoder state ``s`` (the query, [B, Dq]) scores every encoder state ``h_i`` (keys, [B, S, Dk]);
a softmax over the real (unpadded) source positions turns scores into weights ``a``, and the
context is ``c = sum_i a_i h_i``.

    dot         s^T h_i                         Luong et al. 2015
    scaled_dot  s^T h_i / sqrt(n)               Vaswani et al. 2017
    scaled_dot_ln  LN(s)^T LN(h_i) / sqrt(n)    the same on layer-normalised states (below)
    general     s^T W_a h_i                     Luong et al. 2015
    concat      v_a^T tanh(W_q s + W_k h_i)     Bahdanau et al. 2015 ("additive")
    cosine      beta * cos(s, h_i)              Graves et al. 2014 (content-based), beta learned
    location    (W_a s)_i                       Luong et al. 2015: depends on the target state only
    ntm         Neural Turing Machine addressing Graves et al. 2014 (below)

``local=True`` is Luong's local-p attention: a predicted centre ``p = (S - 1) * sigmoid(v_p^T tanh(W_p s))``
(S the source length; the paper writes ``S * sigmoid(...)`` with positions counted from 1, we count
from 0 so ``p`` lies in ``[0, S - 1]``), weights only inside ``[p - D, p + D]``, multiplied by a
Gaussian ``exp(-(i - p)^2 / (2 (D/2)^2))``. We renormalise after the Gaussian (softmax of score +
log-Gaussian over the window) so that, as for every other kind, the weights are a distribution over
the source.

``scaled_dot_ln``: Vaswani et al. scale by ``1/sqrt(n)`` because a dot product of two vectors whose ``n``
components have mean 0 and variance 1 has variance ``n``. A Transformer's learned projections can meet
that premise; an LSTM's states cannot (every component is squashed into (-1, 1), most lie near 0), so
``scaled_dot`` scores are tiny and its weights near uniform. ``LN`` here is layer normalisation without
learned parameters (each vector to mean 0 and variance 1), which restores the premise: scores start with
variance about 1 and can reach ``sqrt(n)`` (so this is a cosine of the centred states with a fixed
``beta = sqrt(n)``).

``score="ntm"`` addresses the encoder states as an NTM memory, everything predicted from ``s``:
content ``w_c = softmax_i(beta * cos(k, h_i))`` with key ``k = W_k s`` and strength
``beta = softplus(.)``; interpolation ``w_g = g w_c + (1 - g) w_prev`` with the previous step's
weights (``w_0`` one-hot on the first word) through a gate ``g = sigmoid(.)``; a shift by a softmax
over {-1, 0, +1}, clipped at the sentence's ends (mass shifted past either end is dropped, not
wrapped round); sharpening ``w^gamma / sum w^gamma`` with ``gamma = 1 + softplus(.)``.

``hard=True`` attends to one source position per step (Xu et al. 2015), trained with the
straight-through Gumbel-softmax (Jang et al. 2017): forward a one-hot sample of
``softmax((score + Gumbel noise) / tau)``, backward that soft sample's gradient. At test time the
position is the argmax of the scores, and the weights shown are that one-hot row.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import masked_softmax

SCORES = ("dot", "scaled_dot", "scaled_dot_ln", "general", "concat", "cosine", "location", "ntm")


class Attention(nn.Module):
    def __init__(self, score: str, query_dim: int, key_dim: int, attention_dim: int | None = None,
                 max_positions: int = 256, local: bool = False, window: int = 8, hard: bool = False,
                 tau: float = 1.0):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"unknown attention score {score!r}; choose from {', '.join(SCORES)}")
        if score in ("dot", "scaled_dot", "scaled_dot_ln", "cosine") and query_dim != key_dim:
            raise ValueError(f"{score} attention needs query and key sizes equal, got {query_dim} and {key_dim}")
        if score == "ntm" and local:
            raise ValueError("ntm addressing moves its own focus (interpolation and shift); it takes no local window")
        self.score, self.local, self.window, self.max_positions = score, local, window, max_positions
        self.hard, self.tau = hard, tau
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
        elif score == "ntm":
            self.W_k = nn.Linear(query_dim, key_dim)                       # the key k_t
            self.W_addr = nn.Linear(query_dim, 6)                          # beta, g, 3 shift logits, gamma
        if local:
            self.W_p = nn.Linear(query_dim, attention_dim)
            self.v_p = nn.Linear(attention_dim, 1, bias=False)

    def precompute(self, keys: torch.Tensor) -> torch.Tensor:
        """What depends on the encoder only, computed once per sentence: [B, S, *]."""
        if self.score == "general":
            return self.W_a(keys)
        if self.score == "concat":
            return self.W_k(keys)
        if self.score in ("cosine", "ntm"):
            return nn.functional.normalize(keys, dim=-1)
        if self.score == "scaled_dot_ln":
            return nn.functional.layer_norm(keys, keys.shape[-1:])
        return keys

    @property
    def recurrent(self) -> bool:
        """Whether the weights depend on the previous step's weights (NTM interpolation)."""
        return self.score == "ntm"

    def initial_weights(self, mask: torch.Tensor) -> torch.Tensor:
        """w_0 of NTM addressing, [B, S]: one-hot on the first source position."""
        w = torch.zeros(mask.shape, device=mask.device)
        w[:, 0] = 1.0
        return w

    def forward(self, query: torch.Tensor, keys: torch.Tensor, projected: torch.Tensor, mask: torch.Tensor,
                previous: torch.Tensor | None = None):
        """query [B, Dq], keys [B, S, Dk], projected = precompute(keys), mask [B, S] (True = real),
        previous [B, S] the last step's weights (NTM only). Returns the context [B, Dk] and the weights [B, S]."""
        if self.score == "ntm":
            weights = self.ntm_address(query, projected, mask, previous)
            if self.hard:
                weights = self.harden(weights.clamp(min=1e-30).log(), mask)
            return torch.einsum("bs,bsd->bd", weights, keys), weights
        if self.score in ("dot", "general"):
            scores = torch.einsum("bd,bsd->bs", query, projected)
        elif self.score == "scaled_dot":
            scores = torch.einsum("bd,bsd->bs", query, projected) / math.sqrt(query.size(-1))
        elif self.score == "scaled_dot_ln":
            query = nn.functional.layer_norm(query, query.shape[-1:])
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
        weights = self.harden(scores, mask) if self.hard else masked_softmax(scores, mask)
        return torch.einsum("bs,bsd->bd", weights, keys), weights

    def harden(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, S] one-hot weights: a straight-through Gumbel-softmax sample in training, the argmax at test."""
        scores = scores.masked_fill(~mask, float("-inf"))
        if self.training:
            gumbel = -torch.empty_like(scores).exponential_().log()
            soft = torch.softmax((scores + gumbel) / self.tau, dim=-1)                    # [B, S]
        else:
            soft = torch.softmax(scores, dim=-1)
        one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
        return one_hot + soft - soft.detach() if self.training else one_hot

    def ntm_address(self, query: torch.Tensor, unit_keys: torch.Tensor, mask: torch.Tensor,
                    previous: torch.Tensor) -> torch.Tensor:
        """[B, S]: the four stages of NTM addressing (Graves et al. 2014, section 3.3)."""
        addr = self.W_addr(query)                                                      # [B, 6]
        beta = nn.functional.softplus(addr[:, :1])                                     # [B, 1] > 0
        gate = torch.sigmoid(addr[:, 1:2])                                             # [B, 1] in (0, 1)
        shift = torch.softmax(addr[:, 2:5], dim=-1)                                    # [B, 3]: -1, 0, +1
        gamma = 1 + nn.functional.softplus(addr[:, 5:6])                               # [B, 1] >= 1
        key = nn.functional.normalize(self.W_k(query), dim=-1)                         # [B, Dk]
        content = masked_softmax(beta * torch.einsum("bd,bsd->bs", key, unit_keys), mask)  # w^c
        gated = gate * content + (1 - gate) * previous                                 # w^g
        # w~(i) = sum_j w^g(j) s(i - j): the weight at i - 1 moves by +1, the one at i + 1 by -1
        left = nn.functional.pad(gated[:, :-1], (1, 0))                                # w^g(i - 1)
        right = nn.functional.pad(gated[:, 1:], (0, 1))                                # w^g(i + 1)
        shifted = shift[:, 2:3] * left + shift[:, 1:2] * gated + shift[:, 0:1] * right
        # sharpening w~^gamma / sum w~^gamma, as a softmax of gamma * log w~: the same weights, but when w~ is
        # tiny everywhere (the focus shifted past the last word) the powers no longer underflow to 0 / 0
        return masked_softmax(gamma * shifted.clamp(min=1e-30).log(), mask)

    def local_log_gaussian(self, query: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, S]: log of the Gaussian around the predicted position, -inf outside the window."""
        lengths = mask.sum(dim=1, keepdim=True).float()                       # [B, 1]
        p = (lengths - 1) * torch.sigmoid(self.v_p(torch.tanh(self.W_p(query))))  # [B, 1] in [0, S - 1]
        i = torch.arange(mask.size(1), device=query.device, dtype=torch.float32)[None]
        sigma = self.window / 2
        log_g = -((i - p) ** 2) / (2 * sigma ** 2)
        return log_g.masked_fill((i - p).abs() > self.window, float("-inf"))
