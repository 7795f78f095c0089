"""The one interface every architecture implements, and the registry from name to class.

A model translates in three moves, which is all the decoder, trainer, evaluator and app use:

    enc = model.encode(src, src_lens)            # once per sentence
    state = model.init_state(enc)
    logits, state, attn = model.step(prev, state, enc)   # once per output word

The contract of a new architecture (subclass :class:`Seq2Seq`, decorate it with ``@register(name)``):

Must implement
    ``encode(src, src_lens) -> enc``         read the source once
    ``init_state(enc) -> state``             the decoder's state before the first word
    ``decoder_step(prev, state, enc)``       one output word: ``(features [B, F], new state, attn)``
    ``logits(features) -> [..., V]``         the output layer, on one step's or all steps' features
Must declare
    ``Config``                               a dataclass of hyper-parameters; its defaults are the
                                             shipped model's (one place: ``train.py`` never overrides them)
    ``paper``, ``attention_kinds``           what the app shows (see below)
    ``paper_differences``                    how this model departs from its paper: rows of
                                             :class:`Difference` (aspect, the paper, this model), which the
                                             About tab and docs/paper-fidelity.md render as a table
    ``src_embedding``                        the ``nn.Embedding`` of the source words: saliency and
                                             attributions differentiate through its output
    ``reverses_source``                      True when ``encode`` embeds the source in reverse order
                                             (the LSTM): position i of the embedding is word S-1-i
May override, for speed only (the result must not change)
    ``forward(src, src_lens, trg_in)``       teacher forcing; the default loops ``decoder_step``
    ``step(prev, state, enc)``               the default is ``logits(decoder_step(...))``
    ``max_source_positions``, ``max_target_positions``   the longest input / output (None: any)
May override, when the "cross" weights hold more than one map per step
    ``cross_attention_grid``                 (layers, heads) of them; the default is (1, 1), or (0, 0)
                                             without attention. The page names the mean over them.
May implement, to be read layer by layer (Inspect's logit lens and DecoderLens)
    ``decoder_layer_features(src, src_lens, trg_in)``   teacher forcing: per decoder layer [B, T, F], what
                                             ``logits`` would read had the decoder stopped after it
    ``encode_from_layer(src, src_lens, layer)``   ``encode`` with the decoder reading encoder layer
                                             ``layer`` (1..N) instead of the last
May implement, to have ALTI+ (``analysis/alti.py``; Ferrando et al. 2022)
    ``attention_sublayers(src, src_lens, trg_in)``   teacher forcing, each attention sub-layer laid open:
                                             per kind ("encoder_self", "decoder_self", "cross") a list, one
                                             dict per layer, of what its output is the sum of (see the method)
Should implement, when it has cross-attention
    ``value_norms(enc) -> [B, layers, heads, S]``   ||f(x_j)||: the norm of what each source position
                                             carries through each cross-attention map once weighted
                                             (Kobayashi et al. 2020): decoding then also returns the
                                             "value_weighted" map, alpha_tj ||f(x_j)|| renormalised per row

``enc`` and ``state`` are dicts whose values are tensors with the batch first, or lists of such
tensors (one per layer), so beam search can reorder or shrink them with :func:`index_batch`
without knowing the architecture. ``attn`` maps an attention kind to that step's weights, all
batch first:

    "cross":         [B, layers, heads, S]   where the decoder looks in the source
    "decoder_self":  [B, layers, heads, t+1] (Transformer) over the target prefix so far

and ``enc["encoder_self"]`` holds ``[B, layers, heads, S, S]`` for the Transformer. Models
without attention (``lstm``, ``gru``) return an empty dict and have ``attention_kinds == ()``.

Presets: a named variant of an architecture, the architecture with some hyper-parameters changed
(``register_preset(name, arch, about, **hparams)``, declared beside the model). ``build_model`` and
``python train.py --arch NAME`` take a preset's name as they take an architecture's; the checkpoint
records the architecture and its full hyper-parameters, so it loads like any other. The presets offer
the paper's variant where the shipped model departs from it cheaply (``convs2s_paper``,
``transformer_postln``); the shipped checkpoints keep the Config defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import NamedTuple

import torch
from torch import nn

from ..data import PAD_IDX

ARCHITECTURES: dict[str, type["Seq2Seq"]] = {}
PRESETS: dict[str, "Preset"] = {}

def trained_here(clip: float = 1.0, batch_tokens: int = 3000) -> str:
    """How the shipped models were trained (train.py's RECIPES and DEFAULTS), for the "training" row of each
    paper-fidelity table: one sentence, so the six tables cannot drift apart."""
    return (f"Adam (β 0.9, 0.98), linear warm-up then cosine decay, label smoothing 0.1, weight decay 1e-4, "
            f"gradient norm at most {clip:g}, batches of about {batch_tokens:,} tokens (train.py), on Multi30k's "
            f"29k pairs")


class Difference(NamedTuple):
    """One row of a model's paper-fidelity table (fairseq-style): where the model departs from its paper."""

    aspect: str     # what differs, e.g. "layer norm", "output layer"
    paper: str      # what the paper does (its section or equation where that helps)
    here: str       # what this model does, and which option or preset gives the paper's variant


def register(name: str):
    """Class decorator: make an architecture buildable by name."""

    def wrap(cls):
        cls.arch = name
        ARCHITECTURES[name] = cls
        return cls

    return wrap


class Seq2Seq(nn.Module):
    arch: str = ""
    paper: str = ""                  # "Author et al. year"
    paper_title: str = ""            # the paper's title
    paper_differences: tuple[Difference, ...] = ()   # see the contract above
    Config: type = None              # the architecture's dataclass of hyper-parameters
    attention_kinds: tuple[str, ...] = ()
    reverses_source: bool = False    # see the contract above
    src_embedding: nn.Embedding      # set by every architecture's __init__

    def __init__(self, config, src_vocab_size: int, trg_vocab_size: int):
        super().__init__()
        self.config = config
        self.src_vocab_size, self.trg_vocab_size = src_vocab_size, trg_vocab_size

    # Longest source / target the model can take (None: unlimited). Longer sources are
    # truncated by the translator, with a warning.
    @property
    def max_source_positions(self) -> int | None:
        return None

    @property
    def max_target_positions(self) -> int | None:
        return None

    @property
    def cross_attention_grid(self) -> tuple[int, int]:
        """(layers, heads) of the "cross" weights each step returns: [B, layers, heads, S]."""
        return (1, 1) if "cross" in self.attention_kinds else (0, 0)

    def value_norms(self, enc: dict) -> torch.Tensor | None:
        """[B, layers, heads, S]: ||f(x_j)||, the norm of the vector source position j adds to the context
        through each cross-attention map, per unit of weight (see the contract above); None: not given."""
        return None

    def decoder_layer_features(self, src: torch.Tensor, src_lens: torch.Tensor, trg_in: torch.Tensor):
        """Per decoder layer, [B, T, F] teacher-forced features for ``logits`` (the logit lens); None: no layers."""
        return None

    def attention_sublayers(self, src: torch.Tensor, src_lens: torch.Tensor, trg_in: torch.Tensor) -> dict | None:
        """Teacher forcing (``trg_in`` [B, T] starting with <sos>), every attention sub-layer as a sum over its
        input tokens, for ALTI+. ``{"encoder_self": [...], "decoder_self": [...], "cross": [...]}``, one dict
        per layer in order, with

            residual  [B, Lq, d]       x_i, the residual stream entering the sub-layer
            values    [B, h, Lk, d]    f^h(x_j) = (a_j W_V^h + b_V^h) W_O^h: head h's value of key j through
                                       its slice of the output projection (a_j what the attention reads of
                                       key j: x_j, LayerNorm(x_j) when the norm comes first, or the encoder's
                                       output for "cross")
            weights   [B, h, Lq, Lk]   alpha^h_ij
            bias      [d]              b_O, the output projection's bias
            norm      the nn.LayerNorm applied to the residual sum (post-LN), or None (pre-LN)
            output    [B, Lq, d]       the sub-layer's output as the model computes it:
                                       norm(x_i + sum_h sum_j alpha^h_ij f^h(x_j) + b_O)

        The sub-layers in between (feed-forward, final norms) act on each position alone. None: not given."""
        return None

    def encode_from_layer(self, src: torch.Tensor, src_lens: torch.Tensor, layer: int) -> dict | None:
        """``encode`` as if the encoder ended after ``layer`` (1..N; DecoderLens); None: not offered."""
        return None

    def encode(self, src: torch.Tensor, src_lens: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def init_state(self, enc: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step(self, prev: torch.Tensor, state: dict, enc: dict):
        """prev: [B] the last output token. Returns (logits [B, V], new state, attn dict)."""
        features, state, attn = self.decoder_step(prev, state, enc)
        return self.logits(features), state, attn

    def decoder_step(self, prev: torch.Tensor, state: dict, enc: dict):
        """Returns (features [B, F] for the output layer, new state, attn dict)."""
        raise NotImplementedError

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """[..., F] -> [..., V]"""
        raise NotImplementedError

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor, trg_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing. trg_in: [B, T] starting with <sos>. Returns logits [B, T, V]: the
        recurrence one step at a time, the output layer once over all positions."""
        enc = self.encode(src, src_lens)
        state = self.init_state(enc)
        features = []
        for t in range(trg_in.size(1)):
            step_features, state, _ = self.decoder_step(trg_in[:, t], state, enc)
            features.append(step_features)
        return self.logits(torch.stack(features, dim=1))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class Preset:
    """A named variant of an architecture: ``arch`` with ``hparams`` on top of its Config defaults."""

    name: str
    arch: str
    about: str                                   # one line: what it changes, and why
    hparams: dict = field(default_factory=dict)


def register_preset(name: str, arch: str, about: str, **hparams) -> Preset:
    """Declare a preset (beside its model). Its hyper-parameters must be the architecture's; its name must be
    new (declaring the same preset again, as a reloaded module does, is allowed)."""
    preset = Preset(name, arch, about, dict(hparams))
    if name in ARCHITECTURES or PRESETS.get(name, preset) != preset:
        raise ValueError(f"{name!r} already names an architecture or another preset")
    ARCHITECTURES[arch].Config(**hparams)        # unknown hyper-parameters fail here, at import
    PRESETS[name] = preset
    return preset


def resolve(name: str) -> tuple[str, dict]:
    """(architecture, hyper-parameters on top of its defaults) of an architecture's or a preset's name."""
    if name in PRESETS:
        return PRESETS[name].arch, dict(PRESETS[name].hparams)
    if name in ARCHITECTURES:
        return name, {}
    raise ValueError(f"unknown architecture {name!r}; choose from {', '.join([*ARCHITECTURES, *PRESETS])}")


def build_model(arch: str, src_vocab_size: int, trg_vocab_size: int, **hparams) -> Seq2Seq:
    """Instantiate an architecture (or a preset) by name; unknown hyper-parameters are an error."""
    arch, preset_hparams = resolve(arch)
    hparams = {**preset_hparams, **hparams}
    cls = ARCHITECTURES[arch]
    known = {f.name for f in fields(cls.Config)}
    unknown = set(hparams) - known
    if unknown:
        raise ValueError(f"{arch} has no hyper-parameter(s) {sorted(unknown)}; it has {sorted(known)}")
    return cls(cls.Config(**hparams), src_vocab_size, trg_vocab_size)


def model_hparams(model: Seq2Seq) -> dict:
    return asdict(model.config)


# ---------------------------------------------------------------------------- helpers


def index_batch(tree, index: torch.Tensor):
    """Select rows ``index`` along the batch (first) dimension of every tensor in a dict/list."""
    if isinstance(tree, torch.Tensor):
        return tree.index_select(0, index)
    if isinstance(tree, dict):
        return {k: index_batch(v, index) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(index_batch(v, index) for v in tree)
    return tree


def source_mask(src: torch.Tensor) -> torch.Tensor:
    """[B, S] True at real tokens, False at padding."""
    return src != PAD_IDX


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim, giving exactly zero weight where ``mask`` is False."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def embedding(vocab_size: int, dim: int) -> nn.Embedding:
    """Word embeddings drawn from N(0, 1/dim), <pad> at zero: the output layer shares them, and
    with nn.Embedding's N(0, 1) the first logits would be ~sqrt(dim) too large."""
    emb = nn.Embedding(vocab_size, dim, padding_idx=PAD_IDX)
    nn.init.normal_(emb.weight, 0.0, dim ** -0.5)
    with torch.no_grad():
        emb.weight[PAD_IDX].zero_()
    return emb


class TiedOutput(nn.Module):
    """Vocabulary logits from a decoder state, sharing the target embedding's weights
    (Press & Wolf 2017): a linear map to the embedding size, then ``x @ E^T + b``."""

    def __init__(self, in_dim: int, emb_dim: int, vocab_size: int, dropout: float):
        super().__init__()
        self.proj = nn.Linear(in_dim, emb_dim) if in_dim != emb_dim else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x: torch.Tensor, embedding_weight: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(self.dropout(self.proj(x)), embedding_weight, self.bias)
