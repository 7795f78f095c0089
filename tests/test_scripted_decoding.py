"""Greedy search, beam search, forced decoding and <unk> replacement against a scripted model.

The model's next-word distribution comes from a fixed table keyed by the source sentence and the
words written so far, so every expected output, log-probability and score below is worked out by
hand in the comments. (Random tiny models never write <eos> and have no traps, so they cannot tell
a correct search from a broken one.)

Target vocabulary of the script: 0 <unk>, 1 <pad>, 2 <sos>, 3 <eos>, 4 "a", 5 "b", 6 "c", 7 "d".

Source S1 = (4,): a search trap with two endings
    ()      a .6   b .4
    (a)     <eos> .2   c .5   d .3
    (b)     <eos> .9   c .1
    (a c)   <eos> .9   d .1
    (a d)   <eos> .6   c .4
  a b eos = .4 * .9 = .36          a c eos = .6 * .5 * .9 = .27
  Greedy takes a (.6 > .4), then c, then <eos>: "a c <eos>", log .27 -- a trap: "b <eos>" has .36.

Source S2 = (5, 5, 5, 5): never ends; limit 1.5 * 4 + 10 = 16 words
    prefix of c's (or empty)   c .9   d .1
    prefix ending in d         d 1
  Best c^n = .9^n; every path with a d is at most .1 (d^n = .1 is the best of them).

Source S3 = (6, 6): never ends; limit 1.5 * 2 + 10 = 13 words
    empty or ending in d       d .8   c .2
    prefix ending in c         c 1
  Greedy writes d^13 = .8^13; beam search keeps c^n = .2 alive and wins with it.

Words outside a row of the table get the logit -1e4 - id: probability 0 in float32 (so the listed
log-probabilities are exact), but all different, so no two hypotheses ever tie.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seq2seq import Translator, Vocab, beam_search, forced_decode, greedy_search
from seq2seq.data import EOS_IDX, SOS_IDX, UNK_IDX
from seq2seq.models.base import Seq2Seq

EOS, A, B, C, D = EOS_IDX, 4, 5, 6, 7
V = 8
S1, S2, S3 = (4,), (5, 5, 5, 5), (6, 6)
ln = math.log

TABLE = {
    S1: {(): {A: .6, B: .4},
         (A,): {EOS: .2, C: .5, D: .3},
         (B,): {EOS: .9, C: .1},
         (A, C): {EOS: .9, D: .1},
         (A, D): {EOS: .6, C: .4}},
}


def s1_script(out):
    return TABLE[S1].get(out, {D: 1.0})        # after <eos> (never asked by a correct search): d for ever


def s2_script(out):
    return {D: 1.0} if out and out[-1] == D else {C: .9, D: .1}


def s3_script(out):
    return {C: 1.0} if out and out[-1] == C else {D: .8, C: .2}


def script(src, out):
    """(distribution over the next word, attention over the source [layers, heads, S] or None)."""
    if src == S1:
        return s1_script(out), None
    if src[0] == 5:
        return s2_script(out), None
    if src[0] == 6:
        return s3_script(out), None
    raise KeyError(src)


def step_attention(src_len: int, out: tuple) -> torch.Tensor:
    """Default attention after the words ``out``: one-hot on source word (t + last word id) mod S, so that
    steps, beams and sentences can be told apart by their attention."""
    w = torch.zeros(1, 1, src_len)
    w[..., (len(out) + (out[-1] if out else 0)) % src_len] = 1.0
    return w


def expected_attention(src, tokens) -> torch.Tensor:
    """[T, 1, 1, S]: the attention each output word was written with."""
    return torch.stack([step_attention(len(src), tuple(tokens[:t])) for t in range(len(tokens))])


class Scripted(Seq2Seq):
    """A model whose log-probabilities come from ``script(source ids, output ids so far)``."""

    arch = "scripted"
    attention_kinds = ("cross",)

    def __init__(self, script=script, vocab_size: int = V, max_target_positions: int | None = None, layers: int = 1):
        super().__init__(None, 40, vocab_size)
        self.script, self.layers, self._max_target = script, layers, max_target_positions
        self.src_embedding = nn.Embedding(40, 2)          # only so the model has a parameter (and a device)
        self.encoded: list[int] = []                      # batch size of every encode call

    @property
    def max_target_positions(self):
        return self._max_target

    def encode(self, src, src_lens):
        self.encoded.append(src.size(0))
        return {"src": src, "lens": src_lens}

    def init_state(self, enc):
        return {"prefix": enc["src"].new_zeros(enc["src"].size(0), 0)}

    def step(self, prev, state, enc):
        prefix = torch.cat([state["prefix"], prev[:, None]], dim=1)          # [B, t+1], <sos> first
        b, width = enc["src"].shape
        logits = -1e4 - torch.arange(self.trg_vocab_size, dtype=torch.float32).repeat(b, 1)
        attn = torch.zeros(b, self.layers, 1, width)
        for row in range(b):
            src = tuple(enc["src"][row, : enc["lens"][row]].tolist())
            assert prefix[row, 0].item() == SOS_IDX
            out = tuple(prefix[row, 1:].tolist())
            dist, weights = self.script(src, out)
            for word, p in dist.items():
                logits[row, word] = math.log(p)
            attn[row, ..., : len(src)] = step_attention(len(src), out) if weights is None else weights
        return logits, {"prefix": prefix}, {"cross": attn}


# ---------------------------------------------------------------------------- greedy search


def test_greedy_takes_the_most_probable_word_and_stops_at_eos():
    [h] = greedy_search(Scripted(), [list(S1)])
    assert h.tokens == [A, C, EOS]                                  # .6, then .5, then .9: <eos> ends it
    assert h.step_log_probs == pytest.approx([ln(.6), ln(.5), ln(.9)], abs=1e-5)
    assert h.log_prob == pytest.approx(ln(.27), abs=1e-5)
    assert h.score == pytest.approx(ln(.27) / 3, abs=1e-5)           # greedy's score: per word, <eos> counted


def test_greedy_runs_to_each_sentences_own_length_limit():
    # S2 never ends: 1.5 * 4 + 10 = 16 words of c (.9 each); S3: 1.5 * 2 + 10 = 13 words of d (.8 each).
    hyps = greedy_search(Scripted(), [list(S2), list(S3)])
    assert hyps[0].tokens == [C] * 16 and hyps[0].log_prob == pytest.approx(16 * ln(.9), abs=1e-4)
    assert hyps[1].tokens == [D] * 13 and hyps[1].log_prob == pytest.approx(13 * ln(.8), abs=1e-4)


def test_greedy_length_limits_from_max_len_and_the_models_positions():
    assert greedy_search(Scripted(), [list(S2)], max_len=3)[0].tokens == [C, C, C]
    assert greedy_search(Scripted(max_target_positions=5), [list(S2)])[0].tokens == [C] * 5   # min(16, 5)
    assert greedy_search(Scripted(max_target_positions=5), [list(S2)], max_len=9)[0].tokens == [C] * 5


@pytest.mark.parametrize("sources", [[S2, S1, S3, S1], [S1, S3, S2]])
def test_greedy_batch_whose_sentences_end_at_different_steps_equals_each_alone(sources):
    # S1 stops at <eos> after 3 words, S3 at its limit (13), S2 at its limit (16): the batch shrinks
    # twice, and the sentences left move up to other rows.
    sources = [list(s) for s in sources]
    model = Scripted()
    together = greedy_search(model, sources)
    alone = [greedy_search(model, [s])[0] for s in sources]
    expected = [{S1: [A, C, EOS], S2: [C] * 16, S3: [D] * 13}[tuple(s)] for s in sources]
    assert [h.tokens for h in together] == [h.tokens for h in alone] == expected
    for h, a in zip(together, alone):
        assert h.step_log_probs == pytest.approx(a.step_log_probs, abs=1e-6)
        torch.testing.assert_close(h.attention["cross"], a.attention["cross"])
    for h, src in zip(together, sources):     # each row of attention is that sentence's at that step
        expected_attn = expected_attention(src, h.tokens)
        torch.testing.assert_close(h.attention["cross"], expected_attn)


def test_greedy_with_a_forced_prefix_scores_it_and_continues():
    [h] = greedy_search(Scripted(), [list(S1)], prefix=[[B]])      # b forced (.4), then <eos> (.9)
    assert h.tokens == [B, EOS] and h.log_prob == pytest.approx(ln(.36), abs=1e-5)


# ---------------------------------------------------------------------------- beam search

# Beam search on S1 with beam 2, by hand (scores are log-probabilities of whole prefixes):
#   step 0  candidates a .6, b .4                     -> beams [a, b]
#   step 1  b<eos> .36, a c .30, a d .18, a<eos> .12  -> "b <eos>" ends (it is among the 2 best);
#                                                        beams [a c, a d]
#   step 2  a c<eos> .27, a d<eos> .108, ...          -> "a c <eos>" ends: 2 finished, done.
# Finished: "b <eos>" (log .36, 2 words), "a c <eos>" (log .27, 3 words); <eos> counts as a word.
#   length_penalty 1:   ln .36 / 2 = -0.5108,        ln .27 / 3 = -0.4364          -> "a c <eos>" wins
#   length_penalty 0.5: ln .36 / 2**.5 = -0.7224,    ln .27 / 3**.5 = -0.7559      -> "b <eos>" wins
#   length_penalty 0:   ln .36 = -1.0217,            ln .27 = -1.3093              -> "b <eos>" wins


@pytest.mark.parametrize("length_penalty, nbest", [
    (1.0, [([A, C, EOS], ln(.27), -0.43644444), ([B, EOS], ln(.36), -0.51082562)]),
    (0.5, [([B, EOS], ln(.36), -0.72241653), ([A, C, EOS], ln(.27), -0.75594394)]),
    (0.0, [([B, EOS], ln(.36), -1.02165125), ([A, C, EOS], ln(.27), -1.30933332)]),
])
def test_beam_nbest_order_scores_and_the_length_penalty(length_penalty, nbest):
    [h] = beam_search(Scripted(), [list(S1)], beam_size=2, length_penalty=length_penalty)
    got = [(n.tokens, n.log_prob, n.score) for n in h.nbest]
    assert [g[0] for g in got] == [n[0] for n in nbest]
    for (_, lp, score), (_, want_lp, want_score) in zip(got, nbest):
        assert lp == pytest.approx(want_lp, abs=1e-5) and score == pytest.approx(want_score, abs=1e-5)
    winner_tokens, winner_lp, winner_score = nbest[0]
    assert h.tokens == winner_tokens and h.log_prob == pytest.approx(winner_lp, abs=1e-5)
    assert h.score == pytest.approx(winner_score, abs=1e-5)
    step_lps = {(A, C, EOS): [ln(.6), ln(.5), ln(.9)], (B, EOS): [ln(.4), ln(.9)]}[tuple(h.tokens)]
    assert h.step_log_probs == pytest.approx(step_lps, abs=1e-5)


# S4 = (7,): a hypothesis that ends must leave the beam, or it takes the place of one that goes on.
#    ()      a .55   b .45
#    (a)     <eos> .6   c .4          (a c)   <eos> 1
#    (b)     c .9   d .1              (b c)   <eos> .1   d .9
# Beam 2, step 1: b c .405, a<eos> .33, a c .22, b d .045 -> "a <eos>" ends; beams [b c, a c]
#         step 2: b c d .3645, a c<eos> .22, b c<eos> .0405 -> "a c <eos>" ends: 2 finished, done.
# Ranked (length_penalty 1): "a c <eos>" ln .22 / 3 = -0.50471, "a <eos>" ln .33 / 2 = -0.55433.
# Had "a <eos>" stayed in the beam, step 2 would have kept [b c d, a <eos> d] and "a c <eos>" was lost.
S4 = (7,)
TABLE[S4] = {(): {A: .55, B: .45}, (A,): {EOS: .6, C: .4}, (B,): {C: .9, D: .1},
             (A, C): {EOS: 1.0}, (B, C): {EOS: .1, D: .9}}


def test_a_hypothesis_that_ends_leaves_the_beam():
    def s4_script(src, out):
        return TABLE[S4].get(out, {D: 1.0}), None

    [h] = beam_search(Scripted(s4_script), [list(S4)], beam_size=2)
    assert [n.tokens for n in h.nbest] == [[A, C, EOS], [A, EOS]]
    assert [n.score for n in h.nbest] == pytest.approx([ln(.22) / 3, ln(.33) / 2], abs=1e-5)


def test_beam_nbest_can_be_cut():
    [h] = beam_search(Scripted(), [list(S1)], beam_size=2, nbest=1)
    assert [n.tokens for n in h.nbest] == [[A, C, EOS]]


def test_beam_escapes_the_trap_greedy_falls_into():
    [g] = greedy_search(Scripted(), [list(S1)])
    [b] = beam_search(Scripted(), [list(S1)], beam_size=2, length_penalty=0.0)
    assert g.tokens == [A, C, EOS] and g.log_prob == pytest.approx(ln(.27), abs=1e-5)
    assert b.tokens == [B, EOS] and b.log_prob == pytest.approx(ln(.36), abs=1e-5)
    # S3: greedy follows d (.8 each) to .8^13 = .055; beam 2 keeps c (.2, then 1 each) and wins with .2.
    [g3] = greedy_search(Scripted(), [list(S3)])
    [b3] = beam_search(Scripted(), [list(S3)], beam_size=2)
    assert g3.tokens == [D] * 13 and b3.tokens == [C] * 13
    assert b3.log_prob == pytest.approx(ln(.2), abs=1e-5) and g3.log_prob == pytest.approx(13 * ln(.8), abs=1e-4)
    assert b3.log_prob > g3.log_prob


# Beam 2 on S2 (limit 16): the beams are always [c^t, d^t] (c^t d = .9^t * .1 < d^(t+1) = .1), and at the
# limit both end unfinished: c^16 (16 ln .9 = -1.6858, score ln .9 = -0.10536), d^16 (ln .1 = -2.3026,
# score ln .1 / 16 = -0.14392). On S3 (limit 13): c^13 (ln .2 = -1.6094, score -0.12380) and d^13
# (13 ln .8 = -2.9009, score ln .8 = -0.22314).
EXPECTED_BEAM = {
    S1: [([A, C, EOS], ln(.27), -0.43644444), ([B, EOS], ln(.36), -0.51082562)],
    S2: [([C] * 16, 16 * ln(.9), -0.10536052), ([D] * 16, ln(.1), -0.14391157)],
    S3: [([C] * 13, ln(.2), -0.12380292), ([D] * 13, 13 * ln(.8), -0.22314355)],
}


def test_beam_stops_at_each_sentences_own_length_limit():
    for src in (S2, S3):
        [h] = beam_search(Scripted(), [list(src)], beam_size=2)
        got = [(n.tokens, n.log_prob, n.score) for n in h.nbest]
        assert [g[0] for g in got] == [e[0] for e in EXPECTED_BEAM[src]]
        assert [g[1:] for g in got] == [pytest.approx(e[1:], abs=1e-4) for e in EXPECTED_BEAM[src]]
    [h] = beam_search(Scripted(max_target_positions=4), [list(S2)], beam_size=2)
    assert [n.tokens for n in h.nbest] == [[C] * 4, [D] * 4]
    [h] = beam_search(Scripted(), [list(S2)], beam_size=2, max_len=3)
    assert [n.tokens for n in h.nbest] == [[C] * 3, [D] * 3]


@pytest.mark.parametrize("sources", [[S2, S1, S3, S1], [S1, S3, S2]])
def test_beam_batch_whose_sentences_end_at_different_steps_equals_each_alone(sources):
    # S1 is done after step 2, S3 at 13 words, S2 at 16: the batch shrinks while the others go on.
    model = Scripted()
    together = beam_search(model, [list(s) for s in sources], beam_size=2)
    alone = [beam_search(model, [list(s)], beam_size=2)[0] for s in sources]
    for h, a, src in zip(together, alone, sources):
        assert [n.tokens for n in h.nbest] == [n.tokens for n in a.nbest] == [e[0] for e in EXPECTED_BEAM[src]]
        assert [n.score for n in h.nbest] == pytest.approx([e[2] for e in EXPECTED_BEAM[src]], abs=1e-4)
        assert h.tokens == EXPECTED_BEAM[src][0][0]
        # the winner's attention is the one it had along its own path
        expected_attn = expected_attention(src, h.tokens)
        torch.testing.assert_close(h.attention["cross"], expected_attn)


def test_each_search_encodes_each_sentence_once():
    model = Scripted()
    greedy_search(model, [list(S2), list(S1), list(S3)])
    beam_search(model, [list(S2), list(S1), list(S3)], beam_size=2)
    forced_decode(model, [list(S1)], [[A]])
    assert model.encoded == [3, 3, 1]


# ---------------------------------------------------------------------------- forced decoding


def test_forced_decoding_gives_the_tables_log_probabilities():
    hyps = forced_decode(Scripted(), [list(S1), list(S2), list(S3)],
                         [[A, C, EOS], [C, C, D, D], [C]], top_k=2)
    assert hyps[0].step_log_probs == pytest.approx([ln(.6), ln(.5), ln(.9)], abs=1e-5)
    assert hyps[1].step_log_probs == pytest.approx([ln(.9), ln(.9), ln(.1), 0.0], abs=1e-5)
    assert hyps[2].step_log_probs == pytest.approx([ln(.2)], abs=1e-5)
    assert [h.log_prob for h in hyps] == pytest.approx([ln(.27), 2 * ln(.9) + ln(.1), ln(.2)], abs=1e-5)
    assert [h.tokens for h in hyps] == [[A, C, EOS], [C, C, D, D], [C]]
    # top 2 per step, best first: S1 step 0 (a .6, b .4), step 1 (c .5, d .3); S3 step 0 (d .8, c .2)
    assert [ids for ids, _ in hyps[0].top_k] == [[A, B], [C, D], [EOS, D]]
    assert hyps[0].top_k[0][1] == pytest.approx([ln(.6), ln(.4)], abs=1e-5)
    assert hyps[0].top_k[1][1] == pytest.approx([ln(.5), ln(.3)], abs=1e-5)
    assert [ids for ids, _ in hyps[2].top_k] == [[D, C]]
    for h, src in zip(hyps, (S1, S2, S3)):
        expected_attn = expected_attention(src, h.tokens)
        torch.testing.assert_close(h.attention["cross"], expected_attn)


# ---------------------------------------------------------------------------- <unk> replacement

SRC_WORDS = ["<unk>", "<pad>", "<sos>", "<eos>", "zwei", "fliegen", "über"]
TRG_WORDS = ["<unk>", "<pad>", "<sos>", "<eos>", "two", "fly", "over"]
TWO, FLY, OVER = 4, 5, 6


def unk_script(src, out):
    """"Zwei Schmetterlinge fliegen über Kopenhagen" (ids 4 0 5 6 0): "two <unk> fly over <unk> <eos>".

    Attention, 2 layers x 1 head over the 5 source words, at the two <unk>s:
      step 1: layer 0 [.5 .45 .05 0 0], layer 1 [.05 .45 .5 0 0] -> mean [.275 .45 .275 0 0]: word 1,
              "schmetterlinge" (layer 0 alone would say word 0, layer 1 alone word 2)
      step 4: one-hot on word 4, "kopenhagen"
    and elsewhere one-hot on word 0, "zwei", so copying from the wrong step gives "zwei".
    """
    words = [TWO, UNK_IDX, FLY, OVER, UNK_IDX, EOS]
    t = len(out)
    w = torch.zeros(2, 1, len(src))
    if t == 1:
        w[0, 0, :3] = torch.tensor([.5, .45, .05])
        w[1, 0, :3] = torch.tensor([.05, .45, .5])
    elif t == 4:
        w[:, :, 4] = 1.0
    else:
        w[:, :, 0] = 1.0
    return {words[min(t, 5)]: 1.0}, w


@pytest.mark.parametrize("beam_size", [1, 2])
def test_unk_is_replaced_by_the_source_word_attended_most_on_average(beam_size):
    model = Scripted(unk_script, vocab_size=len(TRG_WORDS), layers=2)
    translator = Translator(model, Vocab(SRC_WORDS), Vocab(TRG_WORDS), {"arch": "scripted", "src_lang": "de"})
    [t] = translator.translate(["Zwei Schmetterlinge fliegen über Kopenhagen"], beam_size=beam_size)
    assert t.src_tokens == ["zwei", "schmetterlinge", "fliegen", "über", "kopenhagen"]
    assert t.raw_tokens == ["two", "<unk>", "fly", "over", "<unk>"]
    assert t.tokens == ["two", "schmetterlinge", "fly", "over", "kopenhagen"]
    assert t.text == "Two schmetterlinge fly over kopenhagen" and t.finished
    [kept] = translator.translate(["Zwei Schmetterlinge fliegen über Kopenhagen"], beam_size=beam_size,
                                  replace_unknown=False)
    assert kept.tokens == ["two", "<unk>", "fly", "over", "<unk>"]
