"""Each checkpoint's translations of a whole test set, kept beside it, so the app compares models on every test
sentence without translating one (``python -m seq2seq.compare`` writes them; the app only reads them).

    checkpoints/NAME/test_outputs.json      test_2016_flickr, beam 5 (other splits or beams:
                                            outputs_SPLIT_beamK.json, so they never replace it)
    checkpoints/significance.json           every pair of models, sacreBLEU's paired tests (``significance.py``)

One outputs file holds, per test sentence, the hypothesis as the metric reads it (``Translator.words``: lowercased
spaCy tokens joined by spaces), its sentence BLEU and chrF, the source's length and its rarest word's training
count (the Compare list's filters); the coverage of each source word by the map (cross-attention averaged over
layers and heads, rows normalised; None for models without attention) and which source words the translation
missed (``buckets.missing_source_words``, against eflomal's alignment of the reference); and the bucketed scores
(``buckets``). It names the weights (``model_digest``), the source and reference text and the settings it was made
with, so a reader can tell an outdated file. No source or reference text is stored: the data stays out of the
repository, and the app reads the sentences from the Multi30k directory when it has one.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import read_json
from ..evaluate import corpus_scores, sentence_bleu, sentence_chrf
from . import buckets
from .inspection import map_of
from .stats import coverage

FORMAT, VERSION = "seq2seq-test-outputs", 1
DEFAULT_SPLIT, DEFAULT_BEAM = "test_2016_flickr", 5
COVERAGE_THRESHOLD = 0.5      # a source word is "unattended" when all output words together gave it less weight


def outputs_path(checkpoint, split: str = DEFAULT_SPLIT, beam: int = DEFAULT_BEAM) -> Path:
    name = "test_outputs.json" if (split, beam) == (DEFAULT_SPLIT, DEFAULT_BEAM) else f"outputs_{split}_beam{beam}.json"
    return Path(checkpoint) / name


def significance_path(root, split: str = DEFAULT_SPLIT, beam: int = DEFAULT_BEAM) -> Path:
    name = "significance.json" if (split, beam) == (DEFAULT_SPLIT, DEFAULT_BEAM) else f"significance_{split}_beam{beam}.json"
    return Path(root) / name


def text_digest(lines) -> str:
    """A short digest of a list of strings (or token lists), to tell whether two files speak of the same text."""
    h = hashlib.sha1()
    for line in lines:
        h.update(((line if isinstance(line, str) else " ".join(line)) + "\n").encode("utf-8"))
    return h.hexdigest()[:16]


def model_digest(checkpoint) -> str | None:
    """A short digest of a checkpoint's weights file (None when it has none)."""
    path = Path(checkpoint) / "model.safetensors"
    if not path.is_file():
        return None
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


@dataclass
class TestSet:
    """What every model's outputs are computed against: the split, the training counts of source and target words,
    and eflomal's reference alignments (None: the missed words are not computed)."""

    split: object                 # seq2seq.data.Split
    src_counts: Counter
    trg_counts: Counter
    links: list | None

    @property
    def name(self) -> str:
        return self.split.name


def load_test_set(split: str = DEFAULT_SPLIT, src: str = "de", trg: str = "en", data_dir=None, alignments: bool = True,
                  log=print) -> TestSet:
    """The split, the training word counts (Multi30k train, tokenized as the models read it) and, with
    ``alignments``, eflomal's links of the split's references (``alignment.reference_alignments``; cached; it needs
    the ``eflomal`` package, else the missed words are left out, saying so)."""
    from ..data import load_split

    data, train = load_split(split, src, trg, data_dir), load_split("train", src, trg, data_dir)
    links = None
    if alignments:
        try:
            from .alignment import reference_alignments

            links = reference_alignments(split, src, trg, data_dir, log=log)
        except ImportError as e:
            log(f"no reference alignments ({e}): the words each translation missed are not computed")
    return TestSet(data, Counter(t for s in train.src_tokens for t in s), Counter(t for s in train.trg_tokens for t in s),
                   links)


def source_coverage(translator, translation, words: list[str]) -> list[float] | None:
    """The total weight each source word received in the translation's map (cross-attention averaged over layers
    and heads, rows normalised): None for a model without attention, or when its source tokens are not the words
    (a subword model's pieces are merged into the words first). Rounded to 0.01, as stored and as every share of
    unattended words is computed."""
    if not translator.has_attention:
        return None
    _, weights = map_of(translator, translation)
    pieces = translation.src_tokens
    if pieces != words:
        if not translator.src_vocab.subword:
            return None
        from ..data import onto_words, piece_word_index

        weights = onto_words(weights, None, 0, piece_word_index(pieces, words), len(words))   # exactly the words
    return [round(float(c), 2) for c in coverage(weights)] if weights.numel() else [0.0] * len(words)


def compute_outputs(translator, test: TestSet, beam: int = DEFAULT_BEAM, length_penalty: float = 1.0,
                    batch_size: int = 64, name: str | None = None, confidence: bool = True) -> dict:
    """Translate the test set with one model and keep what the comparisons need (see the module's docstring)."""
    data = test.split
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        translations = translator.translate(data.src_text, beam_size=beam, length_penalty=length_penalty,
                                            batch_size=batch_size)
    hyps = [translator.words(t) for t in translations]
    refs, sources = data.trg_tokens, data.src_tokens
    lengths = [len(s) for s in sources]
    rarest = [buckets.rarest_count(s, test.src_counts) for s in sources]
    covered = [source_coverage(translator, t, s) for t, s in zip(translations, sources)]
    aligned = missing = None
    if test.links is not None:
        pairs = [buckets.missing_source_words(s, r, h, links) for s, r, h, links in zip(sources, refs, hyps, test.links)]
        aligned, missing = [p[0] for p in pairs], [p[1] for p in pairs]
    has_map = translator.has_attention and all(c is not None for c in covered)
    out = {
        "format": FORMAT, "version": VERSION, "name": name or (translator.path.name if translator.path else translator.arch),
        "arch": translator.arch, "split": data.name, "beam": beam, "length_penalty": length_penalty,
        "sentences": len(data), "model_digest": model_digest(translator.path) if translator.path else None,
        "source_digest": text_digest(data.src_text), "reference_digest": text_digest(refs),
        "scores": corpus_scores(hyps, refs),
        "map": "cross" if has_map else None,
        "cutoffs": {"length": list(buckets.LENGTH_CUTOFFS), "rarest": list(buckets.RAREST_CUTOFFS),
                    "word": list(buckets.WORD_CUTOFFS)},
        "buckets": {
            "length": buckets.sentence_buckets(hyps, refs, lengths, buckets.LENGTH_CUTOFFS, confidence=confidence),
            "rarest": buckets.sentence_buckets(hyps, refs, rarest, buckets.RAREST_CUTOFFS, confidence=confidence),
            "word_frequency": buckets.word_accuracy(hyps, refs, test.trg_counts),
        },
        "coverage_against_missing": (buckets.coverage_against_missing(covered if has_map else None, aligned, missing,
                                                                      COVERAGE_THRESHOLD)
                                     if aligned is not None else None),
        "hypotheses": [" ".join(h) for h in hyps],
        "sentence_bleu": [round(sentence_bleu(h, r), 2) for h, r in zip(hyps, refs)],
        "sentence_chrf": [round(sentence_chrf(h, r), 2) for h, r in zip(hyps, refs)],
        "source_length": lengths,
        "rarest_count": rarest,
        "coverage": covered if has_map else None,
        "aligned": aligned,
        "missing": missing,
    }
    return out


def write_outputs(path, outputs: dict) -> None:
    """One line per per-sentence list, so the file stays small and a diff of it readable."""
    head = {k: v for k, v in outputs.items() if not isinstance(v, list)}
    lists = {k: v for k, v in outputs.items() if isinstance(v, list)}
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    for k, v in lists.items():
        text += f',\n "{k}": ' + json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    text += "\n}"
    json.loads(text)                                   # never write a file that does not read back
    from ..checkpoint import atomic_write

    atomic_write(Path(path), lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


class OutputsError(ValueError):
    """An outputs file that cannot be used, with the reason for the user."""


PER_SENTENCE = ("hypotheses", "sentence_bleu", "sentence_chrf", "source_length", "rarest_count")


def read_outputs(path) -> dict:
    """An outputs file, checked: its format, and one entry per sentence in every per-sentence list
    (OutputsError saying what is wrong; FileNotFoundError when there is none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        data = read_json(path)
    except Exception as e:
        raise OutputsError(f"{path} cannot be read: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise OutputsError(f"{path} is not a test-outputs file")
    if data.get("version") != VERSION:
        raise OutputsError(f"{path} is version {data.get('version')}, this code reads version {VERSION}")
    n = data.get("sentences")
    for key in PER_SENTENCE + ("coverage", "aligned", "missing"):
        value = data.get(key)
        if (key in PER_SENTENCE or value is not None) and (not isinstance(value, list) or len(value) != n):
            raise OutputsError(f"{path}: {key} does not hold one entry per sentence ({n})")
    return data


def current(data: dict, checkpoint, test: TestSet | None = None, beam: int | None = None,
            length_penalty: float | None = None) -> str | None:
    """Why an outputs file no longer describes the checkpoint (its weights changed) or the test set (another text,
    beam or length penalty, or missing the alignments the test set has), or None when it still does."""
    digest = model_digest(checkpoint)
    if digest is not None and data.get("model_digest") != digest:
        return "the checkpoint's weights changed since its test outputs were computed"
    if beam is not None and data.get("beam") != beam:
        return f"computed with beam {data.get('beam')}, not {beam}"
    if length_penalty is not None and data.get("length_penalty") != length_penalty:
        return f"computed with length penalty {data.get('length_penalty')}, not {length_penalty}"
    if test is not None:
        if data.get("split") != test.name or data.get("sentences") != len(test.split):
            return f"computed on {data.get('split')} ({data.get('sentences')} sentences)"
        if (data.get("source_digest"), data.get("reference_digest")) != (text_digest(test.split.src_text),
                                                                          text_digest(test.split.trg_tokens)):
            return f"computed on another text of {test.name}"
        if test.links is not None and data.get("missing") is None:
            return "computed without the reference alignments"
    return None


def log(*args):
    print(*args, file=sys.stderr, flush=True)
