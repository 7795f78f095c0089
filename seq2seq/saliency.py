"""Gradient x input saliency: how much each source word mattered to each output word.

Models without attention (``lstm``, ``gru``) have no map of where they look, so the app shows
this instead; it works for every model through the one interface, so all six can be compared
in the same form. Teacher-force the chosen output, take the gradient of each output word's
log-probability with respect to the source embeddings ``e_j`` (caught by a forward hook on
``model.src_embedding``), and score source word j for output step t by

    saliency[t, j] = || d log p(y_t | y_<t, x) / d e_j  *  e_j ||_2

normalised so that each row sums to 1, like a row of attention weights (Simonyan et al. 2014;
Denil et al. 2014). All rows come from one batched forward and backward pass: the sentence
is repeated once per output step, and copy t is differentiated for step t only.
"""

from __future__ import annotations

import torch

from .data import EOS_IDX, SOS_IDX
from .model import Seq2Seq


def _embedded_order(model: Seq2Seq, length: int) -> torch.Tensor | None:
    """[S]: the source position held at each embedded position. Models may reorder the source
    before embedding it (the LSTM reads it reversed); embedding distinct ids reveals how.
    None when the vocabulary is too small to tell positions apart (then: no reordering)."""
    first = SOS_IDX + 2                                   # the first non-special id
    if model.src_vocab_size - first < length:
        return None
    device = next(model.parameters()).device
    probe = torch.arange(first, first + length, device=device)[None]
    seen = []
    handle = model.src_embedding.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    try:
        with torch.no_grad():
            model.encode(probe, torch.tensor([length], device=device))
    finally:
        handle.remove()
    return seen[0][0] - first


def saliency(model: Seq2Seq, src_ids: list[int], trg_ids: list[int]) -> torch.Tensor:
    """[T, S] saliency of each source token (columns) for each output token (rows) of the
    output ``trg_ids`` (without <sos>; end it with <eos> to include the end-of-sentence step)."""
    model.eval()
    device = next(model.parameters()).device
    steps, length = len(trg_ids), len(src_ids)
    if not steps or not length:
        return torch.zeros(steps, length)
    src = torch.tensor([src_ids] * steps, device=device)                      # one copy per output step
    src_lens = torch.full((steps,), length, device=device)
    trg_in = torch.tensor([[SOS_IDX] + trg_ids[:-1]] * steps, device=device)   # teacher forcing
    targets = torch.tensor(trg_ids, device=device)

    embedded = []
    handle = model.src_embedding.register_forward_hook(lambda m, inputs, out: embedded.append(out))
    try:
        # cuDNN's RNN backward refuses eval mode; the native kernels do not.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            log_probs = torch.log_softmax(model(src, src_lens, trg_in).float(), dim=-1)   # [T, T, V]
            rows = torch.arange(steps, device=device)
            objective = log_probs[rows, rows, targets].sum()        # copy t: log p(y_t) only
            [grad] = torch.autograd.grad(objective, embedded[0])    # [T, S, E]
    finally:
        handle.remove()

    scores = (grad * embedded[0].detach()).norm(dim=-1).float().cpu()      # [T, S], embedded order
    order = _embedded_order(model, length)
    if order is not None:
        scores = torch.zeros_like(scores).index_copy_(1, order.cpu(), scores)  # back to source order
    return scores / scores.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def translation_saliency(translator, translation) -> torch.Tensor:
    """[T, S] saliency for a :class:`~seq2seq.translator.Translation`: rows are its
    ``output_labels`` (the tokens, then <eos> if finished), columns its ``src_tokens``."""
    src_ids = translator.src_vocab.encode(translation.src_tokens)
    trg_ids = translator.trg_vocab.encode(translation.raw_tokens) + ([EOS_IDX] if translation.finished else [])
    return saliency(translator.model, src_ids, trg_ids)
