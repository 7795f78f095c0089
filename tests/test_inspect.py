"""The deeper views' library parts: map statistics, the beam search tree, step-by-step top-k,
what-if continuation, teacher forcing, two-model differences and their figures, on tiny
random-weight models (``tiny_model``, the ``checkpoint_root`` fixture)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import tiny_model
from seq2seq import ARCHITECTURES, beam_search, greedy_search, load_checkpoint
from seq2seq.analysis import inspection, stats
from seq2seq.explorer import figures
from seq2seq.analysis.probes import record_probes

ARCHS = list(ARCHITECTURES)
SOURCES = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18, 19]]
SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


# ---------------------------------------------------------------------------- statistics


def test_identity_is_diagonal_monotonic_and_certain():
    s = stats.summary(torch.eye(5), ["a", "b", "c", "d", "."])
    assert s["diagonality"] == pytest.approx(1.0) and s["monotonicity"] == 1.0
    assert s["entropy"] == [0.0] * 5 and s["mean_entropy"] == 0.0 and s["entropy_norm"] == 0.0
    assert s["coverage"] == [1.0] * 5 and s["punctuation"] == pytest.approx(0.2) and s["eos"] is None


def test_uniform_has_maximal_entropy_and_no_preferred_order():
    s = stats.summary(torch.full((3, 8), 0.125), ["w"] * 7 + ["<eos>"])
    assert s["entropy"] == pytest.approx([3.0] * 3) and s["entropy_norm"] == pytest.approx(1.0)
    assert s["eos"] == pytest.approx(1 / 8) and s["coverage"] == pytest.approx([3 / 8] * 8)
    assert s["monotonicity"] == 1.0                      # no row has a single maximum: no pair counts
    assert 0.6 < s["diagonality"] < 0.75                 # about 2/3 for a spread-out map


def test_backwards_alignment_is_not_monotonic():
    flipped = torch.eye(4).flip(1)
    assert stats.monotonicity(flipped) == 0.0 and stats.diagonality(flipped) == pytest.approx(0.5)
    assert stats.monotonicity(torch.tensor([[1.0, 0], [0, 1], [1, 0]])) == 0.5


@pytest.mark.parametrize("w", [torch.ones(1, 1), torch.zeros(2, 3), torch.rand(1, 6), torch.rand(6, 1),
                               torch.zeros(0, 4), torch.zeros(3, 0)])
def test_statistics_are_defined_on_edge_cases(w):
    s = stats.summary(w, [f"w{j}" for j in range(w.size(1))])
    json.dumps(s)
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in s.values())
    assert len(s["entropy"]) == w.size(0) and len(s["coverage"]) == w.size(1)
    if w.numel():
        assert 0 <= s["diagonality"] <= 1 and 0 <= s["monotonicity"] <= 1 and 0 <= s["entropy_norm"] <= 1
        assert sum(s["coverage"]) == pytest.approx(w.size(0), abs=1e-4)   # zero rows count as uniform


def test_difference_and_similarity():
    a = torch.rand(4, 6)
    assert stats.similarity(a, a) == pytest.approx(1.0) and stats.difference(a, a).abs().max() == 0
    disjoint = stats.similarity(torch.eye(3), torch.eye(3).roll(1, dims=1))
    assert disjoint == pytest.approx(0.0)
    d = stats.difference(torch.eye(2), torch.ones(2, 2))
    assert torch.allclose(d, torch.tensor([[0.5, -0.5], [-0.5, 0.5]]))
    with pytest.raises(ValueError, match="shapes"):
        stats.difference(torch.rand(2, 3), torch.rand(3, 3))


# ---------------------------------------------------------------------------- beam search tree


@pytest.mark.parametrize("arch", ARCHS)
def test_the_winner_path_of_the_tree_is_the_returned_hypothesis(arch):
    model = tiny_model(arch)
    plain = beam_search(model, SOURCES, 3, max_len=10)
    traced = beam_search(model, SOURCES, 3, max_len=10, trace=True)
    for p, h in zip(plain, traced):
        assert h.tokens == p.tokens and h.log_prob == pytest.approx(p.log_prob) and p.trace is None
        tree = h.trace
        path = [tree.nodes[i] for i in tree.path(tree.winner)]
        assert [n.token for n in path] == h.tokens and [n.step for n in path] == list(range(len(h.tokens)))
        assert path[-1].finished and path[-1].log_prob == pytest.approx(h.log_prob, abs=1e-4)
        assert path[-1].score == pytest.approx(h.score)
        assert [tree.nodes[i].score for i in tree.nbest] == pytest.approx([x.score for x in h.nbest])
        for step in range(len(h.tokens)):     # at most k kept, plus those that ended there
            kept = [n for n in tree.nodes if n.step == step and not n.finished]
            assert len(kept) <= 3
            assert all(n.parent == -1 if step == 0 else tree.nodes[n.parent].step == step - 1 for n in kept)


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_beam_one_tree_is_a_chain_equal_to_greedy(arch):
    model = tiny_model(arch)
    greedy = greedy_search(model, SOURCES, max_len=10)
    for g, h in zip(greedy, beam_search(model, SOURCES, 1, max_len=10, trace=True)):
        nodes = h.trace.nodes
        assert [n.token for n in nodes] == g.tokens
        assert [n.parent for n in nodes] == list(range(-1, len(nodes) - 1))
        assert h.trace.path(h.trace.winner) == list(range(len(nodes)))


def test_beam_tree_nodes_for_the_app(checkpoint_root):
    translator = load_checkpoint(checkpoint_root / "luong")
    t, nodes = inspection.beam_tree(translator, SENTENCE, beam_size=3, max_len=8)
    winners = [n for n in nodes if n["winner"]]
    assert [n["word"] for n in winners] == t.raw_tokens + (["<eos>"] if t.finished else [])
    assert sorted(n["rank"] for n in nodes if n["rank"] is not None) == list(range(len(t.nbest)))
    json.dumps(nodes)
    fig = figures.beam_tree(nodes, "tree <eos>")
    assert fig.layout.title.text == "tree &lt;eos&gt;" and "<eos>" not in json.dumps(fig.to_plotly_json()["data"])


# ---------------------------------------------------------------------------- step by step


@pytest.mark.parametrize("arch", ARCHS)
def test_step_by_step_top_k_holds_the_decoded_word_and_its_probability(checkpoint_root, arch):
    translator = load_checkpoint(checkpoint_root / arch)
    [t] = translator.translate([SENTENCE], max_len=8)
    s = inspection.steps(translator, t, k=5)
    T = len(t.output_labels)
    assert s.rows == t.output_labels and s.weights.shape == (T, len(t.src_tokens))
    assert s.kind == ("cross" if translator.has_attention else "saliency")
    assert len(s.top_words) == len(s.top_probs) == len(s.probs) == T
    for step, (word, p, lp) in enumerate(zip(s.written, s.probs, t.step_log_probs)):
        assert p == pytest.approx(math.exp(lp), rel=1e-4)             # the decoded log-probability
        assert s.top_words[step][0] == word                           # greedy wrote the most probable word
        assert s.top_probs[step] == sorted(s.top_probs[step], reverse=True) and len(s.top_words[step]) == 5
    fig = figures.stepper(s, arch)
    sliders, menus = fig.layout.sliders[0], fig.layout.updatemenus[0]
    assert len(sliders.steps) == T and menus.buttons[0].label.endswith("Play")
    frames = menus.buttons[0].args[0]
    assert len(frames) == T and frames[-1]["layout"]["sliders"] == [{"active": T - 1}]
    assert sum(r[0] is not None for r in frames[1]["data"][0]["z"]) == 2          # rows revealed one by one


# ---------------------------------------------------------------------------- what-if and teacher forcing


@pytest.mark.parametrize("arch", ARCHS)
def test_forcing_a_prefix_continues_from_it(checkpoint_root, arch):
    translator = load_checkpoint(checkpoint_root / arch)
    prefix = ["two", "dogs", "play"]
    t = inspection.continue_from(translator, SENTENCE, prefix, max_len=8)
    assert t.raw_tokens[:3] == prefix and len(t.tokens) <= 8
    [free] = translator.translate([SENTENCE], max_len=8)
    word = inspection.steps(translator, free).top_words[1][2]     # the third choice at the second step
    again = inspection.continue_from(translator, SENTENCE, free.raw_tokens[:1] + [word], max_len=8)
    assert again.raw_tokens[:2] == free.raw_tokens[:1] + [word] or (word == "<eos>" and again.finished)


def test_a_prefix_longer_than_the_model_can_write_is_cut_at_its_positions():
    model = tiny_model("convs2s")                                  # 64 target positions
    [h] = greedy_search(model, [[5, 6, 7]], prefix=[[8] * 70])
    assert h.tokens == [8] * 64


@pytest.mark.parametrize("arch", ARCHS)
def test_forcing_the_reference_gives_teacher_forced_attention(checkpoint_root, arch):
    translator = load_checkpoint(checkpoint_root / arch)
    reference = inspection.target_tokens(translator, "A man in an orange hat staring at something.")
    assert reference == "a man in an orange hat staring at something .".split()
    t = inspection.force(translator, SENTENCE, reference)
    assert t.output_labels == reference + ["<eos>"] and len(t.step_log_probs) == len(reference) + 1
    kind, w = inspection.map_of(translator, t)
    assert w.shape == (len(reference) + 1, len(t.src_tokens))
    assert torch.allclose(w.sum(-1), torch.ones(len(w)), atol=1e-4)
    if translator.has_attention:
        layers, heads = t.attention["cross"].shape[1:3]
        assert t.attention["cross"].shape == (len(reference) + 1, layers, heads, len(t.src_tokens))
    assert inspection.unknown_words(translator, ["a", "zebra"]) == ["zebra"]


# ---------------------------------------------------------------------------- differences


def test_a_model_compared_with_itself_differs_nowhere(checkpoint_root):
    translator = load_checkpoint(checkpoint_root / "transformer")
    c = inspection.compare(translator, translator, SENTENCE, ["a", "man", "."])
    assert c.similarity == pytest.approx(1.0) and c.difference.abs().max() == 0
    assert c.rows == ["a", "man", ".", "<eos>"] and c.difference.shape == (4, 10)


def test_two_models_compared_on_the_same_tokens(checkpoint_root):
    a, b = (load_checkpoint(checkpoint_root / n) for n in ("bahdanau", "gru"))
    c = inspection.compare(a, b, SENTENCE, ["a", "man", "."])
    assert c.kinds == ("cross", "saliency") and c.a.shape == c.b.shape == (4, 10)
    assert 0 <= c.similarity < 1 and c.difference.abs().max() <= 1
    fig = figures.difference_heatmap(figures.map_view("difference", c.difference, c.rows, c.columns))
    top = c.difference.abs().max().item()                        # a diverging scale fitted symmetrically to the data
    assert fig.data[0].zmin == pytest.approx(-top) and fig.data[0].zmax == pytest.approx(top) and top < 1
    assert fig.data[0].colorscale[0][1] == "rgb(127,59,8)"        # PuOr: orange below 0, not the maps' blue
    assert list(fig.layout.yaxis.ticktext)[-1] == "&lt;eos&gt;"


# ---------------------------------------------------------------------------- alignment over epochs


def test_alignment_over_epochs_from_probes_json(checkpoint_root, tmp_path):
    for arch in ("transformer", "gru"):
        translator = load_checkpoint(checkpoint_root / arch)
        assert inspection.probes(translator) is None                 # the fixture has none
        for epoch in (1, 2, 3):
            log = record_probes(tmp_path / f"{arch}.json", translator, epoch)
        fig = figures.epochs_figure(log, 1, arch)
        if arch == "gru":                                            # no attention: the translations
            assert fig.data[0].type == "table" and list(fig.data[0].cells.values[0]) == [1, 2, 3]
        else:
            assert [s.label for s in fig.layout.sliders[0].steps] == ["1", "2", "3"]
            assert fig.layout.sliders[0].active == 2 and fig.data[0].zmax == 1.0
            assert list(fig.layout.xaxis.ticktext) == log["epochs"][0]["probes"][1]["src_tokens"]
