"""Text in, translations out: tokenize, decode (greedy or beam), replace ``<unk>``, detokenize.

    translator = load_checkpoint("checkpoints/transformer")
    [t] = translator.translate(["Ein Mann mit einem orangefarbenen Hut starrt auf etwas."], beam_size=5)
    t.text, t.attention["cross"]   # "A man in an orange hat staring at something.", [T, layers, heads, S]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import load_model, read_metrics
from .data import EOS_IDX, Vocab, detokenize, tokenizer  # noqa: F401 (detokenize is re-exported)
from .decoding import BeamTrace, Hypothesis, beam_search, forced_decode, greedy_search

MAX_SOURCE_TOKENS = 200  # inputs longer than this (in tokens) are truncated, with a warning


@dataclass
class Translation:
    source: str
    src_tokens: list[str]            # the (possibly truncated) source tokens the model saw
    tokens: list[str]                # output tokens after <unk> replacement, without <eos>
    text: str                        # detokenized for display
    log_prob: float
    finished: bool                   # ended with <eos> (not cut by the length limit)
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    # rows: tokens + ["<eos>"] when finished; "cross": [T, layers, heads, S]
    raw_tokens: list[str] = field(default_factory=list)   # before <unk> replacement
    step_log_probs: list[float] = field(default_factory=list)
    nbest: list[tuple[str, float]] = field(default_factory=list)  # (text, length-normalised score)
    truncated: bool = False
    trace: BeamTrace | None = None   # translate(trace=True): the beam search tree (token ids)

    @property
    def output_labels(self) -> list[str]:
        """Labels of the attention rows: the output tokens, then <eos> if the model produced it."""
        return self.tokens + (["<eos>"] if self.finished else [])

    @property
    def copied(self) -> list[int]:
        """Output positions whose word was copied from the source: the model wrote ``<unk>`` there and
        ``replace_unk`` put the most attended source word in its place (Luong et al. 2015)."""
        return [i for i, (raw, tok) in enumerate(zip(self.raw_tokens, self.tokens)) if raw == "<unk>" and tok != raw]


def mean_attention(attention: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """[T, S]: cross-attention averaged over layers and heads (None for models without attention), what
    ``replace_unk`` reads."""
    cross = attention.get("cross")
    return None if cross is None else cross.mean(dim=(1, 2))


def replace_unk(out_tokens: list[str], src_tokens: list[str], attention: dict) -> list[str]:
    """Luong et al. 2015: copy the source word attended most when ``<unk>`` was produced."""
    align = mean_attention(attention)
    if align is None or not src_tokens:
        return list(out_tokens)
    return [src_tokens[int(align[t].argmax())] if tok == "<unk>" else tok for t, tok in enumerate(out_tokens)]


class Translator:
    """A loaded model with its vocabularies and tokenizer."""

    def __init__(self, model, src_vocab: Vocab, trg_vocab: Vocab, config: dict, path: Path | None = None):
        self.model, self.src_vocab, self.trg_vocab, self.config = model, src_vocab, trg_vocab, config
        self.path = path
        self.arch = config["arch"]
        # Subword vocabularies carry their SentencePiece models; word vocabularies read spaCy's tokens.
        self.tokenizer = src_vocab.tokenizer or tokenizer(config["src_lang"], self.lowercase)
        self.subword = trg_vocab.subword
        self.metrics = read_metrics(path) if path else {}

    @property
    def lowercase(self) -> bool:
        return self.config.get("tokenizer", {}).get("lowercase", True)

    @property
    def trg_tokenizer(self):
        """What turns output tokens into text: the target SentencePiece model, or spaCy's words joined."""
        return self.trg_vocab.tokenizer or tokenizer(self.config.get("trg_lang", "en"), self.lowercase)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def has_attention(self) -> bool:
        return bool(self.model.attention_kinds)

    @property
    def max_source_tokens(self) -> int:
        limit = self.model.max_source_positions
        return min(MAX_SOURCE_TOKENS, limit) if limit else MAX_SOURCE_TOKENS

    def knows_no_word(self, src_tokens: list[str]) -> bool:
        """Whether a word-level model knows none of these source words (every one would be read as ``<unk>``;
        punctuation alone is nothing to translate). A subword model spells any input, so it always has words."""
        if self.subword or not src_tokens:
            return False
        return not any(t in self.src_vocab.stoi and t not in ("<unk>", "<pad>", "<sos>", "<eos>")
                       and any(c.isalnum() for c in t) for t in src_tokens)

    def tokenize(self, text: str) -> tuple[list[str], bool]:
        tokens = self.tokenizer(text)
        if len(tokens) > self.max_source_tokens:
            warnings.warn(f"{self.arch}: input of {len(tokens)} tokens truncated to {self.max_source_tokens}")
            return tokens[: self.max_source_tokens], True
        return tokens, False

    def translate(self, texts: list[str], beam_size: int = 1, length_penalty: float = 1.0, max_len: int | None = None,
                  replace_unknown: bool = True, batch_size: int = 64, prefix: list[str] | None = None,
                  trace: bool = False, encoder_layer: int | None = None) -> list[Translation]:
        """Translate a list of sentences. ``prefix``: force each output to start with these tokens
        (what-if decoding): the forced part is scored, the rest is decoded greedily. ``trace``: beam
        search (even with beam_size 1) recording its search tree in ``Translation.trace``. ``encoder_layer``:
        greedy, the decoder reading that encoder layer (1-based) instead of the last (DecoderLens)."""
        if isinstance(texts, str):
            texts = [texts]
        tokenized = [self.tokenize(t) for t in texts]
        results: list[Translation | None] = [None] * len(texts)
        order = sorted((i for i, (toks, _) in enumerate(tokenized) if toks), key=lambda i: len(tokenized[i][0]))
        if beam_size > 1:
            batch_size = max(1, batch_size // beam_size)
        for start in range(0, len(order), batch_size):
            index = order[start: start + batch_size]
            src_ids = [self.src_vocab.encode(tokenized[i][0]) for i in index]
            if (beam_size == 1 and not trace) or prefix or encoder_layer is not None:
                forced = [self.trg_vocab.encode(prefix)] * len(index) if prefix else None
                hyps = greedy_search(self.model, src_ids, max_len=max_len, prefix=forced, encoder_layer=encoder_layer)
            else:
                hyps = beam_search(self.model, src_ids, beam_size, length_penalty, max_len, trace=trace)
            for i, hyp in zip(index, hyps):
                results[i] = self._translation(texts[i], *tokenized[i], hyp, replace_unknown)
        for i, (toks, _) in enumerate(tokenized):
            if results[i] is None:  # nothing to translate
                results[i] = Translation(texts[i], [], [], "", 0.0, True)
        return results

    def words(self, translation: "Translation") -> list[str]:
        """The output as the project's metric reads it: lowercased spaCy tokens (for a subword model,
        of the detokenized text), so word and subword models are scored alike."""
        if not self.subword:
            return translation.tokens
        return tokenizer(self.config["trg_lang"], True)(translation.text)

    def ids(self, translation: "Translation") -> tuple[list[int], list[int]]:
        """(source ids, output ids as the model wrote them, <unk> not replaced, ending with <eos> if it finished):
        what a map of the translation forces through the model."""
        return (self.src_vocab.encode(translation.src_tokens),
                self.trg_vocab.encode(translation.raw_tokens) + ([EOS_IDX] if translation.finished else []))

    def target_ids(self, words: list[str]) -> list[int]:
        """Ids of an output given as the metric's words (a reference): a word model's tokens, or the pieces a
        subword model writes for their text."""
        if not self.subword:
            return self.trg_vocab.encode(words)
        return self.trg_vocab.encode(self.trg_tokenizer(detokenize(words)))

    def score(self, text: str, output_tokens: list[str]) -> Translation:
        """Teacher-forced decoding of a given output (e.g. the reference): its log-probability and attention."""
        src_tokens, truncated = self.tokenize(text)
        if not src_tokens:
            return Translation(text, [], [], "", 0.0, True)
        ids = self.trg_vocab.encode(output_tokens) + [EOS_IDX]
        [hyp] = forced_decode(self.model, [self.src_vocab.encode(src_tokens)], [ids])
        return self._translation(text, src_tokens, truncated, hyp, replace_unknown=False)

    def _translation(self, text, src_tokens, truncated, hyp: Hypothesis, replace_unknown: bool) -> Translation:
        finished = bool(hyp.tokens) and hyp.tokens[-1] == EOS_IDX
        ids = hyp.tokens[:-1] if finished else hyp.tokens
        raw = self.trg_vocab.decode(ids)
        # A subword model spells every word, so there is no <unk> to replace.
        tokens = replace_unk(raw, src_tokens, hyp.attention) if replace_unknown and not self.subword else list(raw)
        nbest = []
        for h in hyp.nbest:
            h_ids = h.tokens[:-1] if h.tokens and h.tokens[-1] == EOS_IDX else h.tokens
            nbest.append((self.trg_tokenizer.detokenize(self.trg_vocab.decode(h_ids)), h.score))
        return Translation(text, src_tokens, tokens, self.trg_tokenizer.detokenize(tokens), hyp.log_prob, finished,
                           hyp.attention,
                           raw, hyp.step_log_probs, nbest, truncated, hyp.trace)


def load_checkpoint(path, device: str | torch.device = "cpu", download: bool | None = None) -> Translator:
    """Load a checkpoint directory into a ready-to-use :class:`Translator`; or a Hugging Face translation
    model: a ``save_pretrained`` directory or a Hub id (see :mod:`seq2seq.models.huggingface`)."""
    from .models.huggingface import is_huggingface_dir, load_huggingface, looks_like_hub_id, split_spec

    name = split_spec(str(path))[0]
    if is_huggingface_dir(name) or looks_like_hub_id(name):
        model, src_vocab, trg_vocab, config = load_huggingface(path, device, download)
        return Translator(model, src_vocab, trg_vocab, config, Path(name) if Path(name).is_dir() else None)
    model, src_vocab, trg_vocab, config = load_model(path, device)
    return Translator(model, src_vocab, trg_vocab, config, Path(path))
