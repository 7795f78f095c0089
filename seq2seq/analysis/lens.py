"""Reading a model layer by layer: the logit lens on the decoder and DecoderLens on the encoder.

* **Logit lens** (nostalgebraist 2020): teacher-force the translation and apply the model's own output
  layer (the Transformer's final norm included) to each decoder layer's output instead of only the last.
  Layer l's row says what the decoder would have written at each step had it stopped after l layers:
  its most probable words and the probability it already gives the word finally written.
* **DecoderLens** (Langedijk et al. 2023): let the decoder read encoder layer k instead of the last (the
  encoder's first k layers, then its final norm) and decode greedily: the translation, and where it
  looks, that the encoder's representation at depth k already supports.

Both work through two optional methods of the model contract, ``decoder_layer_features`` and
``encode_from_layer`` (the Transformer and ConvS2S have the first, the Transformer the second); a model
without them gets None.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import PAD_IDX, SOS_IDX
from ..translator import Translation, Translator


@dataclass
class LogitLens:
    """What each decoder layer would predict along one translation."""

    rows: list[str]                   # [T] the output words as the model wrote them (<unk> kept), then <eos>
    probs: torch.Tensor               # [L, T] p(the word written | decoder stopped after layer l)
    top_words: list[list[list[str]]]  # [L][T][k] layer l's k most probable words at step t, best first
    top_probs: torch.Tensor           # [L, T, k]

    @property
    def layers(self) -> int:
        return self.probs.size(0)

    def agreement(self) -> torch.Tensor:
        """[L, T] whether layer l's most probable word is the word written."""
        return torch.tensor([[words[0] == row for words, row in zip(layer, self.rows)] for layer in self.top_words])


def has_logit_lens(translator: Translator) -> bool:
    return _overrides(translator.model, "decoder_layer_features")


def has_decoder_lens(translator: Translator) -> bool:
    return _overrides(translator.model, "encode_from_layer")


def _overrides(model, method: str) -> bool:
    from ..models.base import Seq2Seq

    return getattr(type(model), method) is not getattr(Seq2Seq, method)


@torch.no_grad()
def logit_lens(translator: Translator, translation: Translation, k: int = 3) -> LogitLens | None:
    """The logit lens along ``translation`` (its own output, teacher-forced); None for a model without layers
    to read or an empty translation."""
    if not has_logit_lens(translator):
        return None
    src_ids, ids = translator.ids(translation)
    if not ids or not src_ids:
        return None
    model = translator.model.eval()
    device = next(model.parameters()).device
    src = torch.tensor([src_ids], device=device)
    trg_in = torch.tensor([[SOS_IDX] + ids[:-1]], device=device)
    features = model.decoder_layer_features(src, torch.tensor([len(src_ids)], device=device), trg_in)
    probs, top_words, top_probs = [], [], []
    target = torch.tensor(ids, device=device)
    for f in features:                                                        # [1, T, F] per layer
        logits = model.logits(f)[0].float()                                   # [T, V]
        logits[:, [PAD_IDX, SOS_IDX]] = float("-inf")                         # never outputs, as in decoding
        p = torch.softmax(logits, dim=-1)
        probs.append(p[torch.arange(len(ids)), target].cpu())
        values, index = p.topk(min(k, p.size(-1)), dim=-1)                    # [T, k]
        top_probs.append(values.cpu())
        top_words.append([translator.trg_vocab.decode(row) for row in index.tolist()])
    # rows: the words as the model wrote them (an <unk> stays <unk>: the lens reads the model, not the page's copy)
    return LogitLens(translator.trg_vocab.decode(ids), torch.stack(probs), top_words, torch.stack(top_probs))


def encoder_layers(translator: Translator) -> int:
    """How many encoder layers DecoderLens can stop after (0 without it)."""
    if not has_decoder_lens(translator):
        return 0
    return len(getattr(translator.model, "encoder_layers", ()))


def decoder_lens(translator: Translator, text: str, layer: int, max_len: int | None = None) -> Translation | None:
    """The greedy translation, with its attention, when the decoder reads encoder layer ``layer`` (1..N)
    instead of the last (greedy; ``decoding.greedy_search``'s ``encoder_layer``); None for a model without
    DecoderLens."""
    if not has_decoder_lens(translator):
        return None
    n = encoder_layers(translator)
    if not 1 <= int(layer) <= n:
        raise ValueError(f"encoder layer must be 1..{n}, not {layer}")
    [t] = translator.translate([text], max_len=max_len, encoder_layer=int(layer))
    return t
