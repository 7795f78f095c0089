"""Gradient x input saliency: how much each source word mattered to each output word.

Models without attention (``lstm``, ``gru``) have no map of where they look, so the app shows
this instead; it works for every model through the one interface, so all six can be compared
in the same form. Teacher-force the chosen output, take the gradient of each output word's
log-probability with respect to the source embeddings ``e_j`` (caught by a forward hook on
``model.src_embedding``), and score source word j for output step t by

    saliency[t, j] = || d log p(y_t | y_<t, x) / d e_j  *  e_j ||_2

normalised so that each row sums to 1, like a row of attention weights (Simonyan et al. 2014;
Denil et al. 2014). Rows come from batched forward and backward passes: the sentence is
repeated once per output step, copy t is differentiated for step t only and fed the output
only as far as step t (the decoders are causal). Long outputs go a chunk of copies at a time,
so memory stays bounded; the work still grows with the output length times the sentence
length (``cost``), so maps costing more than ``MAX_COST`` are refused (``SaliencyTooLong``).
"""

from __future__ import annotations

import torch

from ..data import EOS_IDX, SOS_IDX
from ..models.base import Seq2Seq

CHUNK_FLOATS = 2**24  # output-layer values held at once (64 MB): copies beyond that wait for the next pass
# Token passes a map may take (``cost``): a second or two on 2 CPUs; every Multi30k sentence fits (at most
# ~4,000), a 200-word paste translated to 300 words would take 110,000: minutes. None: no limit.
MAX_COST = 10_000


class SaliencyTooLong(ValueError):
    """The map would cost more than ``MAX_COST``."""


def cost(src_len: int, out_len: int) -> int:
    """Tokens fed through the model (forward and backward) for a saliency map of this size."""
    return out_len * src_len + out_len * (out_len + 1) // 2


def saliency(model: Seq2Seq, src_ids: list[int], trg_ids: list[int]) -> torch.Tensor:
    """[T, S] saliency of each source token (columns) for each output token (rows) of the
    output ``trg_ids`` (without <sos>; end it with <eos> to include the end-of-sentence step)."""
    model.eval()
    device = next(model.parameters()).device
    steps, length = len(trg_ids), len(src_ids)
    if not steps or not length:
        return torch.zeros(steps, length)
    if MAX_COST is not None and cost(length, steps) > MAX_COST:
        raise SaliencyTooLong(f"No saliency map for a translation this long ({steps} output × {length} source words): "
                              "it would take too long to compute.")
    trg_in = torch.tensor([[SOS_IDX] + trg_ids[:-1]], device=device)   # teacher forcing
    targets = torch.tensor(trg_ids, device=device)
    per_pass = max(1, CHUNK_FLOATS // (steps * model.trg_vocab_size))
    scores = torch.cat([_rows(model, src_ids, trg_in, targets, first, min(steps, first + per_pass))
                        for first in range(0, steps, per_pass)])       # [T, S], embedded order
    if model.reverses_source:                                           # embedded in reverse (the LSTM)
        scores = scores.flip(-1)                                        # back to source order
    return scores / scores.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def _rows(model: Seq2Seq, src_ids: list[int], trg_in: torch.Tensor, targets: torch.Tensor, first: int,
          last: int) -> torch.Tensor:
    """Unnormalised rows ``first:last`` in embedded order: one copy of the sentence per row, each fed
    the output as far as the last of these rows needs."""
    device, n = targets.device, last - first
    src = torch.tensor([src_ids] * n, device=device)
    src_lens = torch.full((n,), len(src_ids), device=device)
    embedded = []
    handle = model.src_embedding.register_forward_hook(lambda m, inputs, out: embedded.append(out))
    try:
        # cuDNN's RNN backward refuses eval mode; the native kernels do not.
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            logits = model(src, src_lens, trg_in[:, :last].expand(n, -1))
            log_probs = torch.log_softmax(logits.float(), dim=-1)                   # [n, last, V]
            rows = torch.arange(n, device=device)
            objective = log_probs[rows, first + rows, targets[first:last]].sum()   # copy i: step first + i only
            [grad] = torch.autograd.grad(objective, embedded[0])                   # [n, S, E]
    finally:
        handle.remove()
    return (grad * embedded[0].detach()).norm(dim=-1).float().cpu()


def translation_saliency(translator, translation) -> torch.Tensor:
    """[T, S] saliency for a :class:`~seq2seq.translator.Translation`: rows are its
    ``output_labels`` (the tokens, then <eos> if finished), columns its ``src_tokens``."""
    src_ids = translator.src_vocab.encode(translation.src_tokens)
    trg_ids = translator.trg_vocab.encode(translation.raw_tokens) + ([EOS_IDX] if translation.finished else [])
    return saliency(translator.model, src_ids, trg_ids)
