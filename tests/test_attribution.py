"""Captum attributions (seq2seq.analysis.attribution) on tiny random models of every architecture, and
on one shipped checkpoint: completeness of integrated gradients, input x gradient against finite
differences (which also checks that every map comes out in source order, the LSTM's reversal
included), contrastive attributions, the source/prefix split and the cost limit."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq import ARCHITECTURES
from seq2seq.analysis import maps
from seq2seq.analysis.attribution import N_STEPS, attribute, source_and_prefix
from seq2seq.data import EOS_IDX, SOS_IDX
from seq2seq.decoding import forced_decode

from conftest import ROOT, tiny_model

def integrated_gradients(model, src, trg):
    return attribute(model, src, trg, "integrated_gradients").source


def input_x_gradient(model, src, trg):
    return attribute(model, src, trg, "input_x_gradient").source


def contrastive(model, src, trg, step, foil):
    """[S] the registry's contrast: log p(y_step) - log p(foil) over the source."""
    return maps.contrast(model, src, trg, step, foil).source[0]


SRC = [5, 9, 12, 7, 20, 31, 16]          # distinct words, so a word's embedding row is one position
TRG = [8, 4, 22, 15, 30, 11, EOS_IDX]


def model_of(arch):
    """A tiny random model whose source embeddings are 4 times larger than at initialisation, so that
    its outputs depend on the source enough for the sums below to mean something."""
    model = tiny_model(arch)
    with torch.no_grad():
        model.src_embedding.weight.mul_(4)
    return model


def log_probs(model, src, trg) -> torch.Tensor:
    [hyp] = forced_decode(model, [src], [trg])
    return torch.tensor(hyp.step_log_probs, dtype=torch.float64)


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a != "transformer"])
def test_integrated_gradients_complete(arch):
    """Each row sums to log p(y_t | x) - log p(y_t | zero embeddings) within 5% at the shipped step count,
    and the value at the input is the decoder's own log-probability. (The Transformer, whose ReLUs make the
    integrand jump, is held to this on its shipped checkpoint below.)"""
    model = model_of(arch)
    a = attribute(model, SRC, TRG, "integrated_gradients")
    assert a.source.shape == (len(TRG), len(SRC))
    assert torch.allclose(a.value.double(), log_probs(model, SRC, TRG), atol=1e-4)
    diff = a.value - a.baseline_value
    assert diff.abs().mean() > 0.01                      # the source matters enough for the test to mean something
    gap = (a.source.sum(-1) - diff).abs()
    assert (gap <= 0.05 * diff.abs() + 1e-5).all(), (a.source.sum(-1), diff)
    assert (a.completeness_gap[diff.abs() > 1e-3] < 0.05).all()
    assert torch.equal(integrated_gradients(model, SRC, TRG), a.source)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_input_x_gradient_matches_finite_differences(arch):
    """e_j . d log p(y_t) / d e_j is the derivative of log p(y_t) when word j's embedding is scaled by
    (1 + eps): moving the word's embedding row, not a position, so the LSTM's reversal cannot hide a
    column swap. Signed, in source order."""
    model = model_of(arch)
    ixg = input_x_gradient(model, SRC, TRG)
    weight = model.src_embedding.weight
    eps = 1e-3
    for j in (0, 3, len(SRC) - 1):
        row = weight[SRC[j]].detach().clone()
        with torch.no_grad():
            weight[SRC[j]] = row * (1 + eps)
            up = log_probs(model, SRC, TRG)
            weight[SRC[j]] = row * (1 - eps)
            down = log_probs(model, SRC, TRG)
            weight[SRC[j]] = row
        numeric = (up - down) / (2 * eps)
        assert torch.allclose(ixg[:, j].double(), numeric, atol=2e-3, rtol=0.02), (arch, j, ixg[:, j], numeric)


def test_integrated_gradients_differs_from_input_x_gradient():
    model = model_of("gru")
    assert not torch.allclose(integrated_gradients(model, SRC, TRG), input_x_gradient(model, SRC, TRG), atol=1e-3)


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_contrastive(arch):
    """A word against itself is all zeros; against another word it is the difference of the two words'
    attributions (same path, same quadrature), and sums to the difference in log-probability gaps."""
    model = model_of(arch)
    t = 3
    same = contrastive(model, SRC, TRG, t, TRG[t])
    assert same.shape == (len(SRC),)
    assert torch.count_nonzero(same) == 0
    foil = 17
    c = contrastive(model, SRC, TRG, t, foil)
    own = attribute(model, SRC, TRG[: t + 1], steps=[t]).source[0]
    other = attribute(model, SRC, TRG[:t] + [foil], steps=[t]).source[0]
    assert torch.allclose(c, own - other, atol=1e-5)
    a = attribute(model, SRC, TRG, steps=[t], foils=[foil])
    [hyp] = forced_decode(model, [SRC], [TRG[:t] + [foil]])
    assert a.value[0].item() == pytest.approx(log_probs(model, SRC, TRG)[t].item() - hyp.step_log_probs[t], abs=1e-4)
    gap = (a.source.sum(-1) - (a.value - a.baseline_value)).abs()
    assert (gap <= 0.05 * (a.value - a.baseline_value).abs() + 1e-5).all()


@pytest.mark.parametrize("arch", ["gru", "luong", "convs2s", "transformer"])
def test_source_and_prefix(arch):
    """Integrated gradients over source and decoder-input embeddings: complete, causal (row t puts nothing on
    inputs after y_{t-1}) and the two shares add up to 1. (The Transformer's path from all-zero source and
    target embeddings is rough, ReLUs switching along it: at 32 points most rows, not all, are within 5%;
    its rows converge with more points.)"""
    model = model_of(arch)
    r = source_and_prefix(model, SRC, TRG)
    T = len(TRG)
    assert r.source.shape == (T, len(SRC)) and r.prefix.shape == (T, T)
    assert torch.count_nonzero(r.prefix.triu(1)) == 0
    assert r.prefix[:, 0].abs().sum() > 0               # <sos> counts on the prefix side
    if arch == "transformer":
        assert r.completeness_gap.median() < 0.05, r.completeness_gap
    else:
        assert (r.completeness_gap < 0.05).all(), r.completeness_gap
    assert torch.allclose(r.source_share + r.prefix_share, torch.ones(T))
    assert ((r.source_share >= 0) & (r.source_share <= 1)).all()
    assert 0 < r.source_share.mean() < 1


def test_steps_subset_and_empty():
    model = model_of("bahdanau")
    full = integrated_gradients(model, SRC, TRG)
    part = attribute(model, SRC, TRG, steps=[4, 1]).source
    assert torch.allclose(part, full[[4, 1]], atol=1e-5)
    assert attribute(model, SRC, [], "integrated_gradients").source.shape == (0, len(SRC))
    with pytest.raises(ValueError, match="output steps"):
        attribute(model, SRC, TRG, steps=[len(TRG)])
    with pytest.raises(ValueError, match="foil"):
        contrastive(model, SRC, TRG, 2, SOS_IDX)
    with pytest.raises(ValueError, match="unknown attribution method"):
        attribute(model, SRC, TRG, "lime")


def test_too_long(monkeypatch):
    model = tiny_model("gru")
    cost = maps.cost("integrated_gradients", len(SRC), len(TRG))
    assert cost == N_STEPS * (len(TRG) * len(SRC) + len(TRG) * (len(TRG) + 1) // 2)
    assert maps.cost("input_x_gradient", len(SRC), len(TRG)) == cost // N_STEPS
    monkeypatch.setattr(maps, "MAX_COST", cost - 1)
    forced = maps.Forced(model, SRC, TRG)
    with pytest.raises(maps.MapTooLong, match="too long|limit"):
        maps.compute("integrated_gradients", forced)
    with pytest.raises(maps.MapTooLong, match="too long|limit"):
        maps.contrast(model, SRC, TRG, len(TRG) - 1, 9)
    maps.compute("input_x_gradient", forced)             # one pass: within the limit


SHIPPED = ROOT / "checkpoints" / "gru"
SHIPPED_TRANSFORMER = ROOT / "checkpoints" / "transformer"
SENTENCES = ["Ein Mann mit einem orangefarbenen Hut starrt auf etwas.",
             "Zwei junge Männer spielen Fußball auf einer Wiese.",
             "Eine Frau in einem roten Mantel geht mit ihrem Hund durch den Schnee.",
             "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.",
             "Drei Personen sitzen in einer Höhle.",
             "Ein Hund rennt durch das hohe Gras."]


@pytest.mark.skipif(not (SHIPPED_TRANSFORMER / "model.safetensors").is_file(), reason="no shipped transformer")
def test_shipped_transformer_mostly_complete():
    """The shipped Transformer at the shipped step count: at least 95% of its output words within 5% of their
    log-probability difference, and the median within 2% (its ReLUs make the path integral jump; 16 points
    were chosen for the app's speed, see attribution.py)."""
    from seq2seq.translator import load_checkpoint

    translator = load_checkpoint(SHIPPED_TRANSFORMER)
    gaps = []
    for t in translator.translate(SENTENCES):
        src_ids, trg_ids = translator.ids(t)
        a = attribute(translator.model, src_ids, trg_ids)
        big = (a.value - a.baseline_value).abs() > 1e-3
        gaps.append(a.completeness_gap[big])
    gaps = torch.cat(gaps)
    assert len(gaps) > 40
    assert (gaps < 0.05).float().mean() >= 0.95, gaps
    assert gaps.median() < 0.02, gaps


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(), reason="no shipped gru checkpoint")
def test_shipped_checkpoint_complete():
    """The shipped GRU on a test sentence: every row within 5% of its log-probability difference."""
    from seq2seq.translator import load_checkpoint

    translator = load_checkpoint(SHIPPED)
    [t] = translator.translate(["Ein Mann mit einem orangefarbenen Hut starrt auf etwas."])
    src_ids, trg_ids = translator.ids(t)
    a = attribute(translator.model, src_ids, trg_ids)
    assert a.source.shape == (len(t.output_labels), len(t.src_tokens))
    assert (a.completeness_gap < 0.05).all(), a.completeness_gap
    assert math.isclose(a.value.sum().item(), t.log_prob, abs_tol=1e-3)


def test_another_threads_translation_is_untouched():
    """The embedding hooks replace outputs only in the attributing thread: a model decoding in another thread
    meanwhile (the app serving a translation) reads its own embeddings."""
    import threading

    model = model_of("transformer")
    expected = log_probs(model, SRC[:4], TRG[:3])
    seen, done = [], threading.Event()

    def translate():
        while not done.is_set():
            try:
                seen.append(torch.allclose(log_probs(model, SRC[:4], TRG[:3]), expected, atol=1e-6))
            except Exception:                           # a wrong-shaped embedding from the other thread
                seen.append(False)

    worker = threading.Thread(target=translate)
    worker.start()
    try:
        for _ in range(3):
            integrated_gradients(model, SRC, TRG)
    finally:
        done.set()
        worker.join()
    assert len(seen) > 5 and all(seen)
