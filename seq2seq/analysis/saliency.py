"""Gradient x input saliency: how much each source word mattered to each output word.

Models without attention (``lstm``, ``gru``) have no map of where they look, so the app shows
this by default; it works for every model through the one interface, so all six can be compared
in the same form. Teacher-force the chosen output and score source word j for output step t by

    saliency[t, j] = || d log p(y_t | y_<t, x) / d e_j  *  e_j ||_2

normalised so that each row sums to 1, like a row of attention weights (Simonyan et al. 2014;
Denil et al. 2014). The gradient x input itself is Captum's ``InputXGradient``, batched as in
``attribution.py`` (one copy of the sentence per output step); here its embedding dimensions are
reduced by the L2 norm (unsigned) where the signed input x gradient of the cards sums them. The
work grows with the output length times the sentence length (``cost``), so maps costing more than
``MAX_COST`` are refused (``SaliencyTooLong``).
"""

from __future__ import annotations

import torch

from ..data import EOS_IDX
from ..models.base import Seq2Seq
from .attribution import attribute

# Token passes a map may take (``cost``): a second or two on 2 CPUs; every Multi30k sentence fits (at most
# ~4,000), a 200-word paste translated to 300 words would take 110,000: minutes. None: no limit.
MAX_COST = 10_000


class SaliencyTooLong(ValueError):
    """The map would cost more than ``MAX_COST``."""


def cost(src_len: int, out_len: int) -> int:
    """Tokens fed through the model (forward and backward) for a saliency map of this size."""
    return out_len * src_len + out_len * (out_len + 1) // 2


def saliency(model: Seq2Seq, src_ids: list[int], trg_ids: list[int]) -> torch.Tensor:
    """[T, S] saliency of each source token (columns, in source order) for each output token (rows) of the
    output ``trg_ids`` (without <sos>; end it with <eos> to include the end-of-sentence step)."""
    steps, length = len(trg_ids), len(src_ids)
    if not steps or not length:
        return torch.zeros(steps, length)
    if MAX_COST is not None and cost(length, steps) > MAX_COST:
        raise SaliencyTooLong(f"No saliency map for a translation this long ({steps} output × {length} source words): "
                              "it would take too long to compute.")
    scores = attribute(model, src_ids, trg_ids, "input_x_gradient", reduce="norm").source
    return scores / scores.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def translation_saliency(translator, translation) -> torch.Tensor:
    """[T, S] saliency for a :class:`~seq2seq.translator.Translation`: rows are its
    ``output_labels`` (the tokens, then <eos> if finished), columns its ``src_tokens``."""
    src_ids = translator.src_vocab.encode(translation.src_tokens)
    trg_ids = translator.trg_vocab.encode(translation.raw_tokens) + ([EOS_IDX] if translation.finished else [])
    return saliency(translator.model, src_ids, trg_ids)
