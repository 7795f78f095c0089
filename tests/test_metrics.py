"""The numbers the explorer reports, against values worked out by hand: the statistics of an
attention map (seq2seq/analysis/stats.py) and corpus BLEU (seq2seq/evaluate.py)."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.analysis import stats
from seq2seq.data import Split
from seq2seq.evaluate import corpus_scores, evaluate, sentence_bleu

# ---------------------------------------------------------------------------- map statistics


def test_entropy_in_bits_of_normalised_rows():
    w = torch.tensor([[2.0, 1.0, 1.0],           # -> [.5 .25 .25]: 1.5 bits
                      [0.0, 0.0, 0.0],           # no preference: uniform, log2 3 bits
                      [0.0, 5.0, 0.0]])          # certain: 0 bits
    assert stats.entropy(w).tolist() == pytest.approx([1.5, math.log2(3), 0.0], abs=1e-6)
    assert stats.entropy_norm(w) == pytest.approx((1.5 + math.log2(3)) / 3 / math.log2(3), abs=1e-6)


def test_diagonality_measures_from_cell_centres():
    # T = 3, S = 2, one word per row at columns 0, 0, 1: x_j = (j + .5) / 2, y_t = (t + .5) / 3
    # distances |.25 - 1/6| + |.25 - .5| + |.75 - 5/6| = 1/12 + 1/4 + 1/12 = 5/12; 1 - (5/12) / 3 = 31/36
    w = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert stats.diagonality(w) == pytest.approx(31 / 36, abs=1e-6)
    # a soft row is weighted: [.5 .5] on the single row of a 1 x 2 map: .5 * |.25 - .5| + .5 * |.75 - .5| = .25
    assert stats.diagonality(torch.tensor([[1.0, 1.0]])) == pytest.approx(0.75, abs=1e-6)


def test_monotonicity_counts_steps_that_do_not_move_left():
    # argmax 0 -> 2 (right), 2 -> 1 (left), 1 -> 1 (stays): 2 of 3
    w = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 0]])
    assert stats.monotonicity(w) == pytest.approx(2 / 3)


def test_coverage_sums_the_normalised_rows():
    w = torch.tensor([[2.0, 2.0], [0.0, 1.0], [0.0, 0.0]])     # rows -> [.5 .5], [0 1], [.5 .5]
    assert stats.coverage(w).tolist() == pytest.approx([1.0, 2.0])


def test_punctuation_and_eos_shares():
    w = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    s = stats.summary(w, ["a", ",", "b"])
    assert s["punctuation"] == pytest.approx((0.5 + 0.25) / 2) and s["eos"] is None
    s = stats.summary(w, ["a", "b", "<eos>"])
    assert s["eos"] == pytest.approx(0.75 / 2) and s["punctuation"] == 0.0


def test_similarity_is_one_minus_the_mean_total_variation():
    a = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    b = torch.tensor([[0.0, 1.0], [1.0, 1.0]])                  # row 1 normalises to [.5 .5]
    assert stats.similarity(a, b) == pytest.approx(1 - (1.0 + 0.0) / 2)


# ---------------------------------------------------------------------------- BLEU

HYP1 = "a man in a blue shirt is running .".split()
REF1 = "a man in a red shirt is running .".split()
HYP2 = "two dogs play in the snow .".split()
REF2 = "two dogs are playing in the snow .".split()


def test_corpus_bleu_by_hand():
    # sentence 1: 1-grams 8/9, 2-grams 6/8, 3-grams 4/7, 4-grams 2/6, same length
    assert corpus_scores([HYP1], [REF1])["bleu"] == pytest.approx(100 * (8 / 9 * 6 / 8 * 4 / 7 * 2 / 6) ** 0.25, abs=0.01)
    assert sentence_bleu(HYP1, REF1) == pytest.approx(100 * (8 / 9 * 6 / 8 * 4 / 7 * 2 / 6) ** 0.25, abs=0.01)
    # sentence 2: 6/7, 4/6, 2/5, 1/4; the corpus adds the counts: 14/16, 10/14, 6/12, 3/10, and
    # 16 words against 17: brevity penalty exp(1 - 17/16)
    expected = 100 * math.exp(1 - 17 / 16) * (14 / 16 * 10 / 14 * 6 / 12 * 3 / 10) ** 0.25
    scores = corpus_scores([HYP1, HYP2], [REF1, REF2])
    assert scores["bleu"] == pytest.approx(expected, abs=0.01)
    assert corpus_scores([REF1, REF2], [REF1, REF2])["bleu"] == 100.0
    assert corpus_scores([REF1, REF2], [REF1, REF2])["chrf"] == 100.0


def test_bleu_takes_the_tokens_as_given():
    """tokenize="none": the spaCy tokens are the words. A tokenizer of its own (13a) would split
    "running." into "running ." and call this a perfect match. By hand, against the 8 words
    "a man in a red shirt is running.": 1-grams 7/9, 2-grams 6/8, 3-grams 5/7, 4-grams 4/6."""
    glued = REF1[:-2] + ["running."]
    expected = 100 * (7 / 9 * 6 / 8 * 5 / 7 * 4 / 6) ** 0.25
    assert corpus_scores([REF1], [glued])["bleu"] == pytest.approx(expected, abs=0.01)
    assert sentence_bleu(REF1, glued) == pytest.approx(expected, abs=0.01)
    assert "tok:none" in corpus_scores([REF1], [REF1])["bleu_signature"]


def test_bleu_is_case_sensitive():
    """The tokens are lowercased before scoring (the tokenizer's job), so BLEU itself must not fold
    case: "A" is not "a". By hand: 1-grams 8/9, 2-grams 7/8, 3-grams 6/7, 4-grams 5/6."""
    cased = ["A"] + REF1[1:]
    expected = 100 * (8 / 9 * 7 / 8 * 6 / 7 * 5 / 6) ** 0.25
    assert corpus_scores([cased], [REF1])["bleu"] == pytest.approx(expected, abs=0.01)


class FakeTranslator:
    """Translations whose ``tokens`` (after <unk> replacement) differ from ``raw_tokens``."""

    def translate(self, texts, beam_size=1, length_penalty=1.0, batch_size=64):
        class T:
            def __init__(self, tokens):
                self.tokens, self.raw_tokens = tokens, ["<unk>"] * len(tokens)
        return [T(HYP1), T(HYP2)][: len(texts)]

    def words(self, translation):   # a word-level model is scored on its tokens
        return translation.tokens


def test_evaluate_scores_the_translations_tokens_against_the_references():
    split = Split("val", ["x", "y"], ["X", "Y"], [["x"], ["y"]], [REF1, REF2])
    scores = evaluate(FakeTranslator(), split, beam_size=1)
    assert scores["bleu"] == corpus_scores([HYP1, HYP2], [REF1, REF2])["bleu"]
    assert scores["sentences"] == 2 and scores["split"] == "val"
