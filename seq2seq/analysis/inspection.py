"""Deeper views of one model on one sentence, computed here so the app only draws them.

    map_of(translator, translation)        the [T, S] map the views use (``maps.default_kind``): cross-attention
                                           averaged over layers and heads, or gradient x input saliency for
                                           models without attention (lstm, gru)
    steps(translator, translation, k)      decoding step by step: each word written, the map row that
                                           produced it, and the k most probable words at that step
    continue_from(translator, text, prefix)  what-if: force the start of the output, continue greedily
    force(translator, text, tokens)        teacher forcing of a given output, e.g. the reference
    beam_tree(translator, text, ...)       beam search and its tree of kept hypotheses
    compare(a, b, text, tokens)            two models' maps of the same output: difference, similarity
    probes(translator)                     the checkpoint's probes.json (alignment over epochs), or None

Everything goes through the one model interface (``forced_decode``, ``beam_search``), so no
architecture is special-cased; the statistics of a map are in ``stats.py``.
"""

from __future__ import annotations

import dataclasses

import math
import re
from dataclasses import dataclass

import torch

from ..checkpoint import read_json
from ..data import map_onto_words, tokenizer
from ..decoding import forced_decode
from . import maps
from .stats import difference, similarity, summary
from ..translator import Translation, Translator, detokenize

SPECIAL_WORDS = re.compile(r"(<unk>|<eos>)")   # kept whole when a typed output is tokenized


def map_of(translator: Translator, translation: Translation) -> tuple[str, torch.Tensor]:
    """(kind, [T, S]): the model's default map (``maps.default_kind``), its mean over layers and heads, with rows
    ``translation.output_labels`` and columns its ``src_tokens``; MapTooLong when it would cost too much."""
    kind = maps.default_kind(translator.model)
    return kind, maps.source_map(kind, maps.Forced.of(translator, translation))


# ---------------------------------------------------------------------------- step by step


@dataclass
class Steps:
    """One translation, one output word at a time."""

    src_tokens: list[str]
    rows: list[str]                   # the words written (then <eos> if finished), as displayed
    written: list[str]                # the same words as the model wrote them (<unk> not replaced)
    kind: str                         # "cross" or "saliency" (``map_of``), averaged over layers and heads
    name: str                         # what the map is called (``maps.mean_label``)
    weights: torch.Tensor             # [T, S] the map row that produced each word
    probs: list[float]                # [T] probability of the word written
    top_words: list[list[str]]        # [T][k] the k most probable words at each step, best first
    top_probs: list[list[float]]      # [T][k]


def steps(translator: Translator, translation: Translation, k: int = 5) -> Steps:
    """Teacher-force the translation's own output through the model step by step, keeping each
    step's k most probable next words: what the model weighed before writing each word."""
    kind, weights = map_of(translator, translation)
    name = maps.mean_label(kind, translator.model)
    src_ids, ids = translator.ids(translation)
    written = translator.trg_vocab.decode(ids)
    if not ids or not src_ids:
        return Steps(translation.src_tokens, translation.output_labels, written, kind, name, weights, [], [], [])
    [hyp] = forced_decode(translator.model, [src_ids], [ids], top_k=k)
    return Steps(translation.src_tokens, translation.output_labels, written, kind, name, weights,
                 [math.exp(lp) for lp in hyp.step_log_probs],
                 [translator.trg_vocab.decode(top) for top, _ in hyp.top_k],
                 [[math.exp(lp) for lp in lps] for _, lps in hyp.top_k])


# ---------------------------------------------------------------------------- what-if and teacher forcing


def target_tokens(translator: Translator, text: str) -> list[str]:
    """Tokens of a text in the output language, as the model's training data was tokenized;
    "<unk>" and "<eos>" stay whole, so an output the model wrote can be typed back."""
    lowercase = translator.config.get("tokenizer", {}).get("lowercase", True)
    # a subword model's pieces (its SentencePiece model), else spaCy's words
    tokenize = translator.trg_vocab.tokenizer or tokenizer(translator.config["trg_lang"], lowercase)
    pieces = SPECIAL_WORDS.split(text)                       # text, special, text, special, ...
    return [t for i, piece in enumerate(pieces) for t in ([piece] if i % 2 else tokenize(piece) if piece.strip() else [])]


def unknown_words(translator: Translator, tokens: list[str]) -> list[str]:
    """The words the model cannot write (they become <unk>)."""
    return [t for t in tokens if t not in translator.trg_vocab.stoi]


def continue_from(translator: Translator, text: str, prefix: list[str], max_len: int | None = None) -> Translation:
    """What-if: the output is forced to start with ``prefix`` (tokens), the rest decoded greedily."""
    [t] = translator.translate([text], prefix=list(prefix), max_len=max_len)
    return t


def force(translator: Translator, text: str, tokens: list[str]) -> Translation:
    """Teacher forcing: the model's log-probability and attention along a given output (+ <eos>).
    Its ``tokens`` (the rows) are the given words; ``raw_tokens`` what the model read (<unk> for
    words outside its vocabulary)."""
    t = translator.score(text, list(tokens))
    if t.src_tokens:
        t.tokens, t.text = list(tokens), detokenize(list(tokens))
    return t


# ---------------------------------------------------------------------------- beam search tree


def beam_tree(translator: Translator, text: str, beam_size: int = 5, length_penalty: float = 1.0,
              max_len: int | None = None) -> tuple[Translation, list[dict]]:
    """Beam search with its tree: the translation and one dict per node, in the order they were made:
    id, step, word, parent (-1: the start), log_prob (of the prefix), prob (of the word), finished,
    score (finished: length-normalised), rank (0-based place in the n-best list, or None),
    winner (on the path of the returned translation)."""
    [t] = translator.translate([text], beam_size=beam_size, length_penalty=length_penalty, max_len=max_len,
                               trace=True)
    trace = t.trace
    if trace is None:  # nothing to translate
        return t, []
    on_path, rank = set(trace.path(trace.winner)), {n: r for r, n in enumerate(trace.nbest)}
    words = translator.trg_vocab.decode([n.token for n in trace.nodes])
    nodes = [{"id": i, "step": n.step, "word": w, "parent": n.parent, "log_prob": n.log_prob,
              "prob": math.exp(n.word_log_prob), "finished": n.finished, "score": n.score,
              "rank": rank.get(i), "winner": i in on_path}
             for i, (n, w) in enumerate(zip(trace.nodes, words))]
    return t, nodes


# ---------------------------------------------------------------------------- two models compared


@dataclass
class Comparison:
    """Two models' maps of one sentence along one output: same rows, same columns."""

    rows: list[str]
    columns: list[str]
    kinds: tuple[str, str]            # "cross" or "saliency" for each model (``map_of``)
    names: tuple[str, str]            # what each map is called (``maps.mean_label``)
    a: torch.Tensor                   # [T, S]
    b: torch.Tensor                   # [T, S]
    difference: torch.Tensor          # [T, S] a - b, in [-1, 1]
    similarity: float                 # 1 - mean row total-variation distance: 1 identical, 0 disjoint
    log_probs: tuple[float, float]    # each model's log-probability of the output


def compare(a: Translator, b: Translator, text: str, tokens: list[str]) -> Comparison:
    """Teacher-force the same output (``tokens``, + <eos>) through both models and compare their maps.

    ``tokens`` are words (a word model's tokens, or spaCy's words of the output). A subword model is forced
    along the pieces of the same text and its map merged onto those words and the source's words
    (``map_onto_words``), so models of different tokenizations compare in words."""
    forced, weighed = [], []
    for m in (a, b):
        f = force(m, text, m.trg_tokenizer(detokenize(tokens)) if m.subword else tokens)
        kind, weights = map_of(m, f)
        if m.subword:
            src_words = tokenizer(m.config["src_lang"])(text)[: m.max_source_tokens]
            weights = map_onto_words(weights, f.raw_tokens, list(tokens), f.src_tokens, src_words)
            f = dataclasses.replace(f, src_tokens=src_words)
        forced.append(f)
        weighed.append((kind, weights))
    (fa, fb), ((ka, wa), (kb, wb)) = forced, weighed
    if fa.src_tokens != fb.src_tokens:
        raise ValueError("the two models read this sentence as different tokens, so their maps do not line up")
    rows = list(tokens) + ["<eos>"]
    return Comparison(rows, fa.src_tokens, (ka, kb), (maps.mean_label(ka, a.model), maps.mean_label(kb, b.model)), wa, wb,
                      difference(wa, wb), similarity(wa, wb),
                      (fa.log_prob, fb.log_prob))


# ---------------------------------------------------------------------------- alignment over epochs


def probes(translator: Translator) -> dict | None:
    """``probes.json`` beside the checkpoint (see ``probes.py``), or None when it has none."""
    path = translator.path / "probes.json" if translator.path else None
    return read_json(path) if path is not None and path.is_file() else None


# ---------------------------------------------------------------------------- a whole test set


CORPUS_STATISTICS = ("mean_entropy", "entropy_norm", "diagonality", "monotonicity")


def corpus_map_statistics(translator: Translator, texts: list[str]) -> dict:
    """The mean over ``texts`` of each sentence's map statistics (``stats.summary`` of the greedy
    translation's cross-attention averaged over layers and heads): mean_entropy (bits), entropy_norm,
    diagonality, monotonicity; with the number of sentences that had a map."""
    if not translator.has_attention:
        raise ValueError(f"{translator.arch} has no attention: its saliency maps are too slow for a whole test set")
    totals, n = dict.fromkeys(CORPUS_STATISTICS, 0.0), 0
    for t in translator.translate(texts):
        kind, weights = map_of(translator, t)
        s = summary(weights, t.src_tokens)
        if s["diagonality"] is None:
            continue
        n += 1
        for key in CORPUS_STATISTICS:
            totals[key] += s[key]
    return {"sentences": n, **{k: round(v / max(n, 1), 4) for k, v in totals.items()}}
