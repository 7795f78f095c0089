"""Attributions in the app's library, without Gradio: every card can switch its map to integrated
gradients or input x gradient (drawn on their own signed scale, and computed only when asked for),
the Inspect tab's contrastive attribution and source/prefix split, and how far each kind of map can be
trusted (the faithfulness results kept in metrics.json) on cards, in the Leaderboard and docs/faithfulness.md."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from seq2seq.analysis.attribution import METHODS, N_STEPS, Attribution, attribute
from seq2seq.explorer.cards import card_figures
from seq2seq.explorer.figures import SIGNED_SCALE, row_labels
from seq2seq.explorer.service import MEAN, Inspection, ModelSet, RequestError, translate_all
from seq2seq.explorer.text import attribution_markdown, faithfulness_line
from seq2seq.results import (LEADERBOARD_COLUMNS, TRUST_COLUMNS, faithfulness_markdown, faithfulness_value, frame,
                             head_aer_markdown, result_rows)
from seq2seq.tools import report

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."

# What ``python -m seq2seq.analysis.faithfulness CHECKPOINT --save`` keeps in metrics.json (numbers made up).
FAITHFULNESS = {
    "split": "test_2016_flickr", "sentences": 500, "n_steps": N_STEPS,
    "deletion": {"sentences": 500, "scores": {
        kind: {"comprehensiveness": {"1": c / 2, "2": c * 0.8, "20%": c}, "sufficiency": {"1": s, "2": s, "20%": s / 2}}
        for kind, c, s in (("cross", 0.41, 0.3), ("cross_layer_1", 0.2, 0.5), ("cross_layer_2", 0.45, 0.25),
                           ("integrated_gradients", 0.52, 0.2), ("input_x_gradient", 0.25, 0.5),
                           ("random", 0.11, 0.6))}},
    "alignment": {"sentences": 500, "aer": {"cross": {"argmax": 0.3, "shifted": 0.8},
                                            "integrated_gradients": {"argmax": 0.35, "shifted": 0.9},
                                            "random": {"argmax": 0.95, "shifted": 0.96},
                                            "cross_layer_2": {"argmax": 0.33, "shifted": 0.8},
                                            "cross_layer_1_head_1": {"argmax": 0.5, "shifted": 0.9},
                                            "cross_layer_2_head_2": {"argmax": 0.25, "shifted": 0.9}}},
}


@pytest.fixture(scope="module")
def models(checkpoint_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("attr") / "checkpoints"
    shutil.copytree(checkpoint_root, root)
    for name in ("convs2s", "transformer"):        # the Transformer's for its heads (the tiny one has 2 x 4)
        metrics = json.loads((root / name / "metrics.json").read_text())
        metrics["faithfulness"] = FAITHFULNESS
        (root / name / "metrics.json").write_text(json.dumps(metrics))
    return ModelSet(root, device="cpu", references={})


def test_every_model_offers_both_attributions(models):
    for name in models:
        assert models.kinds(name)[-3:] == ["saliency", *METHODS]


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_a_card_switched_to_integrated_gradients_draws_the_signed_map_on_a_symmetric_scale(models, name):
    results, _, _ = translate_all(models, SENTENCE, [name])
    result = results[name]
    assert not set(METHODS) & set(result.forced.cache)           # nothing computed until asked for
    f = card_figures(models, result, "integrated_gradients", None, None)
    translator = models.translators[name]
    expected = attribute(translator.model, *translator.ids(result.translation)).source
    assert torch.allclose(f.shown, expected)
    trace = f.plot.data[0]
    assert trace.zmin == -trace.zmax and trace.zmax == pytest.approx(float(expected.abs().max()), abs=1e-4)
    assert [list(c) for c in trace.colorscale] == [list(c) for c in SIGNED_SCALE]
    assert f"integrated gradients ({N_STEPS} steps from a zero baseline)" in f.title
    t = result.translation                                       # the rows: its words, copies marked, then <eos>
    assert list(f.plot.layout.yaxis.ticktext) == row_labels(t.output_labels, t.copied)
    assert f.plot.layout.yaxis.ticktext[-1] == "&lt;eos&gt;" or not t.finished
    g = card_figures(models, result, "input_x_gradient", None, None)
    assert g.view.kind == "input_x_gradient" and "input × gradient" in g.title
    assert set(METHODS) <= set(result.forced.cache) and set(result.forced.details) == set(METHODS)


def test_attribution_statistics_say_completeness_and_agreement_with_attention():
    a = Attribution(torch.tensor([[1.0, -1.0], [0.5, 2.0]]), None, [0, 1],
                    torch.tensor([0.0, 2.5]), torch.tensor([-0.1, 0.0]))
    attention = torch.tensor([[0.9, 0.1], [0.8, 0.2]])
    text = attribution_markdown("integrated_gradients", a, ["a", "b"], attention)
    assert "78% of the attribution raised" in text            # (1 + .5 + 2) / (1 + 1 + .5 + 2)
    assert "for 1 of 2 output words" in text                 # argmax 0 = 0, then 1 != 0
    assert "within 0.0%" in text                             # gaps: row 1 0 vs 0.1 (100%), row 2 2.5 = 2.5 - 0
    assert "completeness" not in attribution_markdown("input_x_gradient", Attribution(a.source, None, a.steps,
                                                                                      a.value, None), ["a", "b"])


def test_contrast_of_a_word_with_itself_is_zero_and_bad_foils_are_refused(models):
    i = Inspection.run(models, "gru", SENTENCE)
    labels = i.translation.output_labels
    c = i.contrast(models, 0, labels[0] if labels[0] != "<eos>" else "a")
    if labels[0] != "<eos>":
        assert c["difference"] == 0 and torch.count_nonzero(c["attribution"]) == 0
    other = next(w for w in models.translators["gru"].trg_vocab.itos[4:] if w != labels[0])
    c = i.contrast(models, 0, other)
    assert c["foil"] == other and c["attribution"].shape == (len(i.translation.src_tokens),)
    assert c["difference"] == pytest.approx(c["log_prob"] - c["foil_log_prob"])
    assert float(c["attribution"].sum()) == pytest.approx(c["difference"] - c["baseline_difference"], rel=0.05, abs=1e-3)
    for step, foil, message in ((0, "zzzunknownzzz", "vocabulary"), (0, "two words", "one English word"),
                                (len(labels), other, "Choose an output word"), (None, other, "Choose an output word")):
        with pytest.raises(RequestError, match=message):
            i.contrast(models, step, foil)


def test_source_prefix_shares_add_up(models):
    i = Inspection.run(models, "transformer", SENTENCE)
    sp = i.source_prefix(models)
    T = len(i.translation.output_labels)
    assert sp.source.shape == (T, len(i.translation.src_tokens)) and sp.prefix.shape == (T, T)
    assert torch.allclose(sp.source_share + sp.prefix_share, torch.ones(T))


def test_cards_leaderboard_and_readme_say_how_far_each_map_can_be_trusted(models, tmp_path):
    metrics = models.translators["convs2s"].metrics
    line = faithfulness_line(metrics, "integrated_gradients")
    assert "500 test sentences" in line and "comprehensiveness **0.520**" in line and "random 0.110" in line
    assert "attention 0.410" in line and "AER **0.350**" in line
    assert "comprehensiveness **0.450**" in faithfulness_line(metrics, "cross", layer=1)   # layer 2 of the card
    one_head = faithfulness_line(metrics, "cross", layer=1, head=1)                     # its head 2: its own AER
    assert "this head's AER **0.250**" in one_head and "its layer's mean of heads 0.330" in one_head
    assert "measured on layer 2's mean of heads" in one_head and "comprehensiveness **0.450**" in one_head
    assert "measured on the mean of all layers and heads" in faithfulness_line(metrics, "cross", head=0)
    assert "measured on" not in faithfulness_line(metrics, "cross", layer=1)
    assert "comprehensiveness **0.410**" in faithfulness_line(metrics, "cross")
    assert faithfulness_line(metrics, "encoder_self") == ""
    assert faithfulness_line(models.translators["gru"].metrics, "saliency") == ""   # never measured

    rows = result_rows(models.root)
    table = frame(rows, TRUST_COLUMNS)
    assert [r[0] for r in table["data"]] == [r[0] for r in frame(rows, LEADERBOARD_COLUMNS)["data"]]   # same order
    row = next(r for r in table["data"] if r[0] == "convs2s")
    header = table["headers"]
    assert row[header.index("comp@20% attention")] == 0.41 and row[header.index("comp@20% IG")] == 0.52
    assert row[header.index("AER attention")] == 0.3 and row[header.index("comp@20% random")] == 0.11
    assert faithfulness_value(metrics, "random", "aer_shifted") == 0.96

    md = faithfulness_markdown(rows)
    lines = [l for l in md.splitlines() if l.startswith("| `convs2s`")]
    assert [l.split(" | ")[1] for l in lines] == ["cross-attention (mean)", "cross-attention, layer 1", "cross-attention, layer 2",
                                                  "integrated gradients", "input × gradient", "random (floor)"]
    assert lines[0].split(" | ")[2:] == ["0.205", "0.328", "0.410", "0.300", "0.300", "0.150", "0.300", "0.800 |"]
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- faithfulness:start -->\nold\n<!-- faithfulness:end -->\nafter\n")
    assert report.main(["--faithfulness", "--checkpoints", str(models.root), "--update", str(readme)]) == 0
    assert "| `convs2s` | cross-attention (mean) |" in readme.read_text() and "old" not in readme.read_text()
    # each head's AER: a row per layer, a column per head, the layer's mean of heads last
    convs2s_grid = head_aer_markdown(rows).split("\n\n")[0]                     # then the Transformer's
    assert convs2s_grid.splitlines() == ["| `convs2s` AER | head 1 | head 2 | mean of heads |", "|---|--:|--:|--:|",
                                         "| layer 1 | 0.500 | — | — |", "| layer 2 | — | 0.250 | 0.330 |"]
    assert head_aer_markdown(rows) in readme.read_text()


def test_a_card_showing_one_head_says_that_heads_aer(models):
    """The Translate card's layer and head pickers reach the trust line: one head shown, its own AER."""
    import app

    _, ui = app.build_app(models)
    results = ui.on_translate(SENTENCE, ["transformer"], "greedy", 5, 1.0, 0)[ui.state]
    *_, stats = ui.on_view("transformer", results, "cross", 1, 1)              # layer 2, head 2
    assert "this head's AER **0.250**" in stats and "measured on layer 2's mean of heads" in stats
    *_, stats = ui.on_view("transformer", results, "cross", 1, MEAN)           # layer 2, mean of its heads
    assert "AER **0.330**" in stats and "this head" not in stats
