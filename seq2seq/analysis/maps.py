"""Every kind of map, in one registry: from a model, a source and a forced output to a map.

A map kind is one function of a :class:`Forced` output (the model, the source ids, the output ids
written or forced, and the decoding along them, computed once and shared), with one cost model and
one refusal when a map would cost too much (:class:`MapTooLong`). The cards, Inspect, Compare, Family,
the API and its downloads, the faithfulness and AER tests all get their maps here.

    kind                   what it is                                                   scale          grid
    cross                  cross-attention: where each output step looks in the source  distribution   yes
    value_weighted         cross-attention weighted by the norm of what each source word
                           moves, alpha_tj ||f(x_j)|| renormalised per row (Kobayashi et al.
                           2020; the model's ``value_norms``)                            distribution   yes
    encoder_self           encoder self-attention [S, S]                                 distribution   yes
    decoder_self           decoder self-attention over <sos> y_1 .. y_{T-1}              distribution   yes
    alti                   ALTI+ (Ferrando et al. 2022): each source word's share of the
                           output word, followed through every layer (``alti.py``)       magnitude      no
    saliency               || d log p(y_t) / d e_j * e_j ||_2, rows normalised            magnitude      no
    integrated_gradients   signed, 16 Gauss-Legendre points from a zero baseline         signed         no
    input_x_gradient       signed e_j . d log p(y_t) / d e_j                              signed         no
    occlusion              p(y_t) - p(y_t | word j replaced by <unk>)                    signed         no
    random                 uniform random scores, seeded: the faithfulness tests' floor  magnitude      no

Every kind's value is shaped ``[layers, heads, rows, columns]`` (one layer and one head where the kind
has no grid): rows the output words (ending with <eos> when finished), columns the source words, except
for the self-attention kinds (rows and columns the source, or the output). A *map* is one [rows, columns]
selection of it, named ``KIND`` (the mean over layers and heads), ``KIND_layer_L`` (one layer, mean of its
heads) or ``KIND_layer_L_head_H`` (one head), L and H from 1: the names the faithfulness and AER tables use.
"Alignment" is the name of the AER test (``alignment.py``) only, never of a map.

Costs are token passes (forward and backward through one token); a map above ``MAX_COST`` is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import torch

from ..data import UNK_IDX, merge_map, merge_pieces
from ..decoding import forced_decode
from ..models.base import Seq2Seq
from . import alti as alti_module
from .attribution import N_STEPS, SourcePrefix, attribute, share
from .attribution import source_and_prefix as integrated_source_and_prefix

# Token passes a map may take (``cost``): about 0.13 s per 1,000 on one CPU thread. Integrated gradients of a
# 12-word sentence cost ~4,000; every Multi30k test and validation sentence fits (at most ~27,000). None: no limit.
MAX_COST = 32_000


class MapTooLong(ValueError):
    """The map would cost more than ``MAX_COST`` token passes."""


def passes(src_len: int, out_len: int) -> int:
    """Token passes of one gradient through every output step: copy t of the sentence reads the source and the
    output as far as step t (``attribution.py``'s batching)."""
    return out_len * src_len + out_len * (out_len + 1) // 2


# ---------------------------------------------------------------------------- one output forced through a model


@dataclass
class Forced:
    """One output forced through one model: what every map of it reads. ``trg_ids`` are the output without
    <sos>, ending with <eos> when it finished; ``attention``, the decoding's (``Hypothesis.attention``), is the
    ``given_attention`` a translation brought, else computed on first use by forced decoding."""

    model: Seq2Seq
    src_ids: list[int]
    trg_ids: list[int]
    given_attention: dict | None = None
    seed: int = 0                                   # of the random map
    cache: dict = field(default_factory=dict)       # kind -> [layers, heads, rows, columns]
    details: dict = field(default_factory=dict)     # kind -> what it computed beside the map (an Attribution)

    @classmethod
    def of(cls, translator, translation, seed: int = 0) -> "Forced":
        """A translation (a :class:`~seq2seq.translator.Translation`) with the attention its decoding gave."""
        return cls(translator.model, *translator.ids(translation), translation.attention, seed)

    @cached_property
    def decoding(self):
        [hyp] = forced_decode(self.model, [self.src_ids], [self.trg_ids])
        return hyp

    @property
    def attention(self) -> dict:
        return self.given_attention if self.given_attention is not None else self.decoding.attention

    @cached_property
    def probs(self) -> list[float]:
        """p(y_t | y_<t, x) of each output word."""
        return [math.exp(lp) for lp in self.decoding.step_log_probs]


# ---------------------------------------------------------------------------- the kinds


@dataclass(frozen=True)
class MapKind:
    name: str
    label: str                                    # what pages and tables call it
    scale: str                                    # "distribution" | "magnitude" | "signed" (``scale_rule``)
    compute: Callable[[Forced], torch.Tensor]     # -> [layers, heads, rows, columns]
    offered: Callable[[Seq2Seq], bool]            # whether a model has it
    cost: Callable[[int, int], int] = lambda S, T: 0   # token passes for S source and T output words
    grid: bool = False                            # several layers and heads to choose from
    looks: bool = False                           # where the model looks (attention), not what its words depend on
    axes: tuple[str, str] = ("output", "source")  # what the rows and the columns are


def _grid(forced: Forced, key: str) -> torch.Tensor:
    """The decoding's [T, layers, heads, N] attention as [layers, heads, T, N]."""
    return forced.attention[key].float().permute(1, 2, 0, 3)


def _value_weighted(forced: Forced) -> torch.Tensor:
    weighted = _grid(forced, "cross") * forced.attention["value_norms"].float()[:, :, None, :]  # [L, H, T, S]
    return weighted / weighted.sum(-1, keepdim=True).clamp_min(1e-12)


def _one(x: torch.Tensor) -> torch.Tensor:
    return x.float()[None, None]                  # [T, S] -> [1, 1, T, S]


def _saliency(forced: Forced) -> torch.Tensor:
    scores = attribute(forced.model, forced.src_ids, forced.trg_ids, "input_x_gradient", reduce="norm").source
    return _one(scores / scores.sum(dim=-1, keepdim=True).clamp_min(1e-12))


def _attribution(method: str):
    def compute(forced: Forced) -> torch.Tensor:
        a = forced.details[method] = attribute(forced.model, forced.src_ids, forced.trg_ids, method)
        return _one(a.source)          # the Attribution stays beside it: its completeness, its values
    return compute


def _occlusion(forced: Forced) -> torch.Tensor:
    src, trg = forced.src_ids, forced.trg_ids
    hyps = forced_decode(forced.model, [src[:j] + [UNK_IDX] + src[j + 1:] for j in range(len(src))], [trg] * len(src))
    removed = torch.tensor([[math.exp(lp) for lp in h.step_log_probs] for h in hyps])   # [S, T]
    return _one(torch.tensor(forced.probs)[:, None] - removed.T)


def _random(forced: Forced) -> torch.Tensor:
    generator = torch.Generator().manual_seed(forced.seed)
    return _one(torch.rand(len(forced.trg_ids), len(forced.src_ids), generator=generator))


def _alti(forced: Forced) -> torch.Tensor:
    return _one(alti_module.alti_plus(forced.model, forced.src_ids, forced.trg_ids).source)


def _has_attention(key: str):
    return lambda model: key in model.attention_kinds


KINDS: dict[str, MapKind] = {k.name: k for k in (
    MapKind("cross", "cross-attention", "distribution", lambda f: _grid(f, "cross"), _has_attention("cross"), grid=True,
            looks=True),
    MapKind("value_weighted", "value-weighted attention", "distribution", _value_weighted,
            lambda m: "cross" in m.attention_kinds and type(m).value_norms is not Seq2Seq.value_norms, grid=True,
            looks=True),
    MapKind("encoder_self", "encoder self-attention", "distribution",
            lambda f: f.attention["encoder_self"].float(), _has_attention("encoder_self"), grid=True,
            axes=("query", "key"), looks=True),
    MapKind("decoder_self", "decoder self-attention", "distribution", lambda f: _grid(f, "decoder_self"),
            _has_attention("decoder_self"), grid=True, axes=("query", "key"), looks=True),
    MapKind("alti", "ALTI+ contributions", "magnitude", _alti, alti_module.has_alti,
            cost=lambda S, T: S + T),
    MapKind("saliency", "gradient × input saliency", "magnitude", _saliency, lambda m: True, cost=passes),
    MapKind("integrated_gradients", "integrated gradients", "signed", _attribution("integrated_gradients"),
            lambda m: True, cost=lambda S, T: N_STEPS * passes(S, T)),
    MapKind("input_x_gradient", "input × gradient", "signed", _attribution("input_x_gradient"), lambda m: True,
            cost=passes),
    MapKind("occlusion", "occlusion", "signed", _occlusion, lambda m: True,
            cost=lambda S, T: S * (S + T)),
    MapKind("random", "random", "magnitude", _random, lambda m: True),
)}
# What a model's cards offer, in this order (occlusion and random are the faithfulness tests' ceiling and floor).
CARD_KINDS = ("cross", "value_weighted", "alti", "encoder_self", "decoder_self", "saliency", "integrated_gradients",
              "input_x_gradient")
GRADIENT_KINDS = ("saliency", "integrated_gradients", "input_x_gradient")
SIGNED_KINDS = ("integrated_gradients", "input_x_gradient", "occlusion", "contrastive")


def label(kind: str) -> str:
    """What a kind (or a map's name, ``cross_layer_2``) is called on the page and in the tables."""
    if kind == "contrastive":
        return "contrastive integrated gradients"
    base, layer, head = parse(kind)
    where = "" if layer is None else f", layer {layer + 1}" + ("" if head is None else f", head {head + 1}")
    return KINDS[base].label + where


def mean_label(kind: str, model: Seq2Seq) -> str:
    """The label of a kind's mean map, saying what it is the mean of for this model: "cross-attention (mean of
    layers and heads)" (Transformer), "(mean of layers)" (ConvS2S, one head each), none (one attention a step)."""
    if kind not in ("cross", "value_weighted"):
        return label(kind)
    layers, heads = model.cross_attention_grid
    over = " and ".join(what for what, n in (("layers", layers), ("heads", heads)) if n > 1)
    return f"{label(kind)} (mean of {over})" if over else label(kind)


def scale_rule(kind: str) -> str:
    """The one colour-scale rule for each kind of map, used by every view that draws one (the cards, the
    step-by-step view, what-if, teacher forcing, Compare, Family, the epochs, the downloads' "scale"):

    "distribution"  attention of any kind (each row sums to 1): 0 to 1, so maps of different models compare
    "magnitude"     gradient × input saliency and ALTI+ (each row spread over every source word, ALTI+'s rows
                    summing only to the source's share, so on 0-1 they look blank), random: 0 to its largest cell
    "signed"        attributions (integrated gradients, input × gradient, contrastive) and occlusion: symmetric
                    about 0, fitted to the largest magnitude"""
    if kind in SIGNED_KINDS:
        return "signed"
    base = parse(kind)[0] if kind not in KINDS else kind
    return KINDS[base].scale if base in KINDS else "distribution"


def scale_range(kind: str, shown: torch.Tensor) -> tuple[float, float]:
    """The colour range every view draws a map of this kind on (``scale_rule``): 0-1, 0 to its largest cell, or
    symmetric about 0 to its largest magnitude."""
    rule = scale_rule(kind)
    if rule == "signed":
        top = max(float(shown.abs().max()), 1e-6) if shown.numel() else 1.0
        return -top, top
    if rule == "magnitude":
        return 0.0, max(float(shown.max()), 1e-6) if shown.numel() else 1.0
    return 0.0, 1.0


def offered(model: Seq2Seq, kinds=CARD_KINDS) -> list[str]:
    """The kinds of ``kinds`` a model has, in that order."""
    return [k for k in kinds if KINDS[k].offered(model)]


def default_kind(model: Seq2Seq) -> str:
    """The map a model is shown by where one map stands for it: its cross-attention, else saliency."""
    return "cross" if KINDS["cross"].offered(model) else "saliency"


def cost(kind: str, src_len: int, out_len: int) -> int:
    return KINDS[kind].cost(src_len, out_len)


def check(kind: str, src_len: int, out_len: int) -> None:
    """MapTooLong when a map of this size would cost more than ``MAX_COST`` token passes."""
    c = cost(kind, src_len, out_len)
    if MAX_COST is not None and c > MAX_COST:
        raise MapTooLong(f"No {label(kind)} map for a translation this long ({out_len} output × {src_len} source "
                         f"words): it would take too long to compute ({c:,} token passes; the limit is {MAX_COST:,}).")


def compute(kind: str, forced: Forced) -> torch.Tensor:
    """[layers, heads, rows, columns] of one kind (cached on ``forced``); MapTooLong if too costly, KeyError for
    a kind the model does not have."""
    if kind not in forced.cache:
        k = KINDS[kind]
        if not k.offered(forced.model):
            raise KeyError(f"{forced.model.arch or type(forced.model).__name__} has no {k.label} map")
        T, S = len(forced.trg_ids), len(forced.src_ids)
        if not T or not S:                          # nothing to map: an empty map of the right shape
            rows, columns = (S if kind == "encoder_self" else T), (T if kind == "decoder_self" else S)
            forced.cache[kind] = torch.zeros(1, 1, rows, columns)
        else:
            check(kind, S, T)
            forced.cache[kind] = k.compute(forced)
    return forced.cache[kind]


# ---------------------------------------------------------------------------- maps: one selection of a kind


def parse(name: str) -> tuple[str, int | None, int | None]:
    """``cross`` -> ("cross", None, None); ``cross_layer_2`` -> ("cross", 1, None); ``cross_layer_2_head_3`` ->
    ("cross", 1, 2) (0-based layer and head)."""
    base, _, rest = name.partition("_layer_")
    if not rest:
        return name, None, None
    layer, _, head = rest.partition("_head_")
    return base, int(layer) - 1, (int(head) - 1 if head else None)


def select(value: torch.Tensor, layer: int | None = None, head: int | None = None) -> torch.Tensor:
    """[rows, columns] of a [layers, heads, rows, columns] value: one layer (None: the mean of the layers) and
    one head (None: the mean of the heads)."""
    w = value.mean(dim=0) if layer is None else value[layer]
    return w.mean(dim=0) if head is None else w[head]


def source_map(name: str, forced: Forced) -> torch.Tensor:
    """The [T, S] map ``name`` (``KIND``, ``KIND_layer_L``, ``KIND_layer_L_head_H``)."""
    kind, layer, head = parse(name)
    return select(compute(kind, forced), layer, head)


def expand(kind: str, forced: Forced, layers: bool = True, heads: bool = False) -> dict[str, torch.Tensor]:
    """The map of ``kind`` (its mean) and, for a kind with a grid, one per layer (``layers``, when there are
    several) and one per head (``heads``, when a layer has several): name -> [T, S]."""
    value = compute(kind, forced)
    maps = {kind: select(value)}
    L, H = value.shape[:2]
    for layer in range(L):
        if layers and L > 1:
            maps[f"{kind}_layer_{layer + 1}"] = select(value, layer)
        for head in range(H if heads and H > 1 else 0):
            maps[f"{kind}_layer_{layer + 1}_head_{head + 1}"] = select(value, layer, head)
    return maps


# ---------------------------------------------------------------------------- views: a map with its labels


@dataclass
class View:
    """One kind of map of one translation, with what its rows and columns are."""

    kind: str
    weights: torch.Tensor      # [layers, heads, rows, columns]
    rows: list[str]
    columns: list[str]
    row_name: str              # what a row is, for hover text ("output", "query")
    column_name: str
    copied: tuple[int, ...] = ()   # rows whose word was copied from the source (the model wrote <unk>)

    @property
    def layers(self) -> int:
        return self.weights.size(0)

    @property
    def heads(self) -> int:
        return self.weights.size(1)

    def select(self, layer: int | None = None, head: int | None = None) -> torch.Tensor:
        return select(self.weights, layer, head)


def view(kind: str, forced: Forced, translation) -> View:
    """``kind`` of a translation (forced as ``forced``) as a View: rows its ``output_labels`` (or source tokens),
    columns its source tokens (or the decoder's inputs <sos> y_1 .. y_{T-1})."""
    value, (row_name, column_name) = compute(kind, forced), KINDS[kind].axes
    outputs, src = translation.output_labels, translation.src_tokens
    if kind == "encoder_self":
        return View(kind, value, src, src, row_name, column_name)
    columns = ["<sos>"] + outputs[:-1] if kind == "decoder_self" else src
    return View(kind, value, outputs, columns, row_name, column_name, tuple(translation.copied))


def map_view(kind: str, weights: torch.Tensor, rows: list[str], columns: list[str], copied=()) -> View:
    """A [T, S] map (output rows, source columns) as a one-layer, one-head View."""
    return View(kind, weights.float()[None, None], rows, columns, "output", "source", tuple(copied))


def words_view(view: View, row_words: list[str] | None = None, column_words: list[str] | None = None) -> View:
    """A view over subword pieces as one over words (``merge_pieces``, ``merge_map``): a word's column is
    the sum of its pieces' columns, its row the mean of its pieces' rows. The words of each axis (e.g. spaCy's
    tokens, the unit of BLEU and of the word models' maps) default to the pieces' own word boundaries."""
    rows, cols = merge_pieces(view.rows, row_words), merge_pieces(view.columns, column_words)
    weights = merge_map(view.weights, [i for _, i in rows], [i for _, i in cols])
    short = lambda w: w if len(w) <= 24 else w[:23] + "…"   # noqa: E731 (a runaway "word" of many pieces)
    return View(view.kind, weights, [short(w) for w, _ in rows], [short(w) for w, _ in cols], view.row_name,
                view.column_name)   # a subword model spells every word: nothing is copied


# ---------------------------------------------------------------------------- the Inspect tab's attributions


def source_and_prefix(model: Seq2Seq, src_ids: list[int], trg_ids: list[int]) -> SourcePrefix:
    """Integrated gradients over the source and the words already written at once (``attribution.py``)."""
    check("integrated_gradients", len(src_ids), len(trg_ids))
    return integrated_source_and_prefix(model, src_ids, trg_ids)


def alti_source_and_prefix(model: Seq2Seq, src_ids: list[int], trg_ids: list[int]) -> SourcePrefix | None:
    """ALTI+'s source and prefix contributions in the same form (None: the model has no ALTI+)."""
    if not alti_module.has_alti(model):
        return None
    c = alti_module.alti_plus(model, src_ids, trg_ids)
    source_share = share(c.source, c.prefix)
    return SourcePrefix(c.source, c.prefix, source_share, 1 - source_share, None)


def contrast(model: Seq2Seq, src_ids: list[int], trg_ids: list[int], step: int, foil: int):
    """Integrated gradients of log p(y_step) - log p(foil) over the source (``attribution.Attribution``, one row)."""
    check("integrated_gradients", len(src_ids), step + 1)
    return attribute(model, src_ids, trg_ids[: step + 1], steps=[step], foils=[foil])
