"""ALTI+ (Ferrando et al. 2022, "Towards Opening the Black Box of Neural Machine Translation: Source and Target
Contributions to the Model's Predictions"): how much each source word and each word already written contributes
to the decoder's output at each step, with no gradient, from the model's own activations.

The model lays its attention sub-layers open (``Seq2Seq.attention_sublayers``, the Transformer's): for each, the
residual stream x_i entering it, each head's value of each key through its slice of W_O, the attention weights,
b_O, and the post-LN norm if there is one. Shapes are for one sentence: S source words, T output steps, d the
model's width, h heads; Lq queries and Lk keys of one sub-layer.

**One sub-layer as a sum over its input tokens** (ALTI, Ferrando, Gállego and Costa-jussà 2022)::

    f^h(x_j)  = (a_j W_V^h + b_V^h) W_O^h                 # [h, Lk, d]  a_j: what the attention reads of token j
    T_i(x_j)  = sum_h alpha^h_ij f^h(x_j) + [j = i] x_i   # [Lq, Lk, d] self-attention: the residual is token i's
    T_i(res)  = x_i                                       #             cross-attention: one more column, the
                                                          #             decoder's own stream (K = S + 1 keys)
    pre-LN:   y_i = sum_j T_i(x_j) + b_O                  # [Lq, d]     exact: the norm before the attention
                                                          #             acts on each a_j alone
    post-LN:  y_i = LN(sum_j T_i(x_j) + b_O)              # the paper's linearisation: with sigma_i, the std of
              L_i(u) = gamma * (u - mean(u)) / sigma_i    # the whole sum, held fixed per position, LN is linear
              T_i(x_j) <- L_i(T_i(x_j))                   # (each part loses its own mean), and
              y_i = sum_j T_i(x_j) + L_i(b_O) + beta      #             this is still exactly LN's output

**Each token's share** is how much closer to y_i its vector is than nothing is, in L1 distance::

    c_ij = max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1)       # [Lq, K]
    C_ij = c_ij / sum_k c_ik                              # each row sums to 1

**Rollout through the layers** (ALTI+): feed-forward sub-layers and the final norms act on each
position alone, so they pass contributions through unchanged (the paper's assumption: token i's output keeps the
mix of its input), and a layer's C composes by matrix product with what came before::

    R_enc = C_enc^N ... C_enc^1                           # [S, S]   to the source words, via the encoder
    source, prefix = 0, I                                 # [T, S], [T, T]: the decoder's input, <sos> y_0 ..
    per decoder layer:
        source, prefix = C_self @ source, C_self @ prefix                  # C_self [T, T], causal
        source = C_cross[:, :S] @ R_enc + C_cross[:, S:] * source          # C_cross [T, S + 1]
        prefix = C_cross[:, S:] * prefix

Every row of [source | prefix] then sums to 1 (each C's rows do), the prefix is zero above the diagonal (the
self-attention's weights are), and ``source_share`` = sum_j source_tj is how much of step t's output comes from
the source rather than from the words already written.

Approximations, all the paper's: the layer norm's std is held fixed (post-LN; pre-LN needs none, its norms act
on one position at a time); feed-forward sub-layers are assumed not to change the mix of a position's
contributions; the value bias b_V travels with each token's f^h(x_j) and the output bias b_O with no token (it
only moves y_i); c_ij, being clipped and not additive, measures closeness, not a signed share of a logit. Should a
row's c_ij all be clipped to zero (no token's vector nearer y_i than the zero vector: possible, never seen in the
shipped Transformers on the first 200 test sentences), that row falls back to the L1 norms ||T_i(x_j)||_1
(Kobayashi et al. 2020's measure, in L1), so it still sums to 1. Nothing in the Transformer falls outside this:
no part needs attention rollout instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import SOS_IDX
from ..models.base import Seq2Seq


@dataclass
class Contributions:
    """ALTI+ of one forced output: rows the output steps (the words predicted, ending with <eos> if given)."""

    source: torch.Tensor          # [T, S] >= 0, to each source word (source order)
    prefix: torch.Tensor          # [T, T] >= 0, to each decoder input: <sos>, y_0 .. y_{T-2}; zero above the diagonal
    source_share: torch.Tensor    # [T] source.sum(-1); a row of source and prefix together sums to 1


def has_alti(model: Seq2Seq) -> bool:
    """Whether the model lays its attention sub-layers open (``attention_sublayers``), which ALTI+ reads."""
    return type(model).attention_sublayers is not Seq2Seq.attention_sublayers


def decompose(sub: dict, self_attention: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One sub-layer (a dict of ``attention_sublayers``, batch 1) as (T_i(x_j) [Lq, K, d], y_i [Lq, d]), K = Lk for
    self-attention, Lk + 1 for cross-attention (the last column the residual stream); sum_j T_i(x_j) plus the
    biases is y_i, the sub-layer's output."""
    x = sub["residual"][0].float()                                   # [Lq, d]
    weights, values = sub["weights"][0].float(), sub["values"][0].float()   # [h, Lq, Lk], [h, Lk, d]
    parts = torch.einsum("hqk,hkd->qkd", weights, values)            # [Lq, Lk, d]: sum_h alpha^h_ij f^h(x_j)
    if self_attention:                                               # + x_i at j = i
        parts = parts + torch.eye(x.size(0), device=x.device)[:, :, None] * x[:, None, :]
    else:                                                            # the residual as one more column
        parts = torch.cat([parts, x[:, None, :]], dim=1)             # [Lq, Lk + 1, d]
    bias = sub["bias"].float() if sub["bias"] is not None else x.new_zeros(x.size(-1))   # [d]
    norm = sub["norm"]
    if norm is None:                                                 # pre-LN: the sum is the output
        return parts, parts.sum(1) + bias
    total = parts.sum(1) + bias                                      # [Lq, d] what the post-LN norm reads
    sigma = (total.var(-1, unbiased=False, keepdim=True) + norm.eps).sqrt()   # [Lq, 1], held fixed
    gamma = norm.weight.float() if norm.weight is not None else 1.0
    beta = norm.bias.float() if norm.bias is not None else 0.0
    parts = gamma * (parts - parts.mean(-1, keepdim=True)) / sigma[:, None]   # [Lq, K, d]: L_i(T_i(x_j))
    return parts, parts.sum(1) + gamma * (bias - bias.mean()) / sigma + beta  # + L_i(b_O) + beta


def l1_contributions(parts: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[Lq, K]: c_ij = max(0, ||y_i||_1 - ||y_i - T_i(x_j)||_1), normalised per row (see the module)."""
    c = (y.abs().sum(-1, keepdim=True) - (y[:, None, :] - parts).abs().sum(-1)).clamp_min(0)
    norms = parts.abs().sum(-1)                                      # the fallback of a row clipped to nothing
    c = torch.where(c.sum(-1, keepdim=True) > 0, c, norms)
    return c / c.sum(-1, keepdim=True).clamp_min(torch.finfo(c.dtype).tiny)


def layer_contributions(sub: dict, self_attention: bool) -> torch.Tensor:
    """[Lq, K] ALTI's contributions of one sub-layer."""
    return l1_contributions(*decompose(sub, self_attention))


def alti_plus(model: Seq2Seq, src_ids: list[int], trg_ids: list[int]) -> Contributions:
    """ALTI+ of the forced output ``trg_ids`` (without <sos>; ending with <eos> to include that step): per step,
    the contribution of each source word and of each decoder input (<sos>, y_0 .. y_{T-2}). Runs on the model's
    device, without gradients; the result is on the CPU."""
    if not has_alti(model):
        raise ValueError(f"{model.arch or type(model).__name__} does not lay its attention open: no ALTI+")
    model.eval()
    device = next(model.parameters()).device
    S, T = len(src_ids), len(trg_ids)
    if not S or not T:
        return Contributions(torch.zeros(T, S), torch.zeros(T, T), torch.zeros(T))
    src = torch.tensor([src_ids], device=device)                     # [1, S]
    trg_in = torch.tensor([[SOS_IDX] + list(trg_ids[:-1])], device=device)   # [1, T]
    with torch.no_grad():
        subs = model.attention_sublayers(src, torch.tensor([S], device=device), trg_in)
        enc = torch.eye(S, device=device)                            # R_enc [S, S]
        for sub in subs["encoder_self"]:
            enc = layer_contributions(sub, True) @ enc
        source = torch.zeros(T, S, device=device)                    # [T, S]
        prefix = torch.eye(T, device=device)                         # [T, T]
        for self_sub, cross_sub in zip(subs["decoder_self"], subs["cross"]):
            c_self = layer_contributions(self_sub, True)             # [T, T]
            source, prefix = c_self @ source, c_self @ prefix
            c_cross = layer_contributions(cross_sub, False)          # [T, S + 1]
            keep = c_cross[:, S:]                                    # [T, 1] the residual's share
            source = c_cross[:, :S] @ enc + keep * source
            prefix = keep * prefix
    source, prefix = source.float().cpu(), prefix.float().cpu()
    return Contributions(source, prefix, source.sum(-1))
