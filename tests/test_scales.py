"""One colour-scale rule per kind of map, used by every view (issue 23): attention on 0-1 (a distribution, so
maps of different models compare), saliency on 0 to its largest cell (on 0-1 it looked blank in Inspect's step
by step while the cards scaled it), signed attributions symmetric about 0; and where two maps side by side are
on different ranges (Compare: GRU saliency beside Bahdanau attention) each figure says so.

Bugs planted in a scratch copy to prove these tests (each made some fail): the step-by-step view back on 0-1
(also test_browser_unk at 1440 and 390 px); color_range giving saliency 0-1; Compare without scale_notes."""

from __future__ import annotations

import pytest
import torch

from seq2seq.explorer import api
from seq2seq.analysis.maps import scale_rule
from seq2seq.explorer.cards import card_figures
from seq2seq.explorer.figures import color_range, scale_notes, stepper
from seq2seq.explorer.service import Inspection, translate_all

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


def test_the_rule_of_each_kind():
    for kind in ("cross", "value_weighted", "encoder_self", "decoder_self", "cross_layer_2_head_1"):
        assert scale_rule(kind) == "distribution"
        assert color_range(kind, torch.tensor([[0.1, 0.2]]))[0] == (0.0, 1.0)
    for kind in ("saliency", "alti", "random"):
        assert scale_rule(kind) == "magnitude"
        assert color_range(kind, torch.tensor([[0.1, 0.28]]))[0] == pytest.approx((0.0, 0.28))
    for kind in ("integrated_gradients", "input_x_gradient", "contrastive", "occlusion"):
        assert scale_rule(kind) == "signed"
        assert color_range(kind, torch.tensor([[-0.5, 0.2]]))[0] == pytest.approx((-0.5, 0.5))


def zrange(fig, trace: int = 0):
    return fig.data[trace].zmin, fig.data[trace].zmax


@pytest.mark.parametrize("arch", ["gru", "lstm", "bahdanau", "transformer"])
def test_the_card_and_the_step_by_step_view_draw_a_map_on_the_same_range(models, arch):
    """The bug: stepper drew GRU/LSTM saliency on 0-1 while the card drew it on 0 to its largest cell."""
    results, _, _ = translate_all(models, SENTENCE, [arch])
    card = card_figures(models, results[arch], models.kinds(arch)[0], None, None)
    i = Inspection.run(models, arch, SENTENCE)
    steps = stepper(i.steps, arch)
    top = float(i.steps.weights.max())
    if models.translators[arch].has_attention:
        assert zrange(steps) == zrange(card.plot) == (0.0, 1.0)
    else:
        assert top < 0.9                                                    # saliency: pale on 0-1
        assert zrange(steps) == pytest.approx((0.0, top), abs=1e-4)
        assert zrange(card.plot) == pytest.approx((0.0, float(card.shown.max())), abs=1e-4)
        assert steps.data[0].colorbar.title.text == f"0–{top:.2f}"


def test_every_view_of_a_saliency_map_uses_its_own_scale(ui, models):
    """Inspect's free-running and what-if maps and the statistics' "scale" (the downloads) agree with the rule."""
    i = ui.inspector
    out = i.on_inspect(SENTENCE, "gru", 3, 1.0, 0)
    state = out[i.state]
    top = float(state.map[1].max())
    assert zrange(out[i.free]) == pytest.approx((0.0, top), abs=1e-4)
    assert zrange(out[i.steps]) == pytest.approx((0.0, top), abs=1e-4)
    w = i.on_continue(state, "a man")
    what_if = state.what_if["map"][1]
    assert zrange(w[i.whatif]) == pytest.approx((0.0, float(what_if.max())), abs=1e-4)
    data = api.inspection_json(models, state)
    assert data["translation"]["statistics"]["scale"] == {"rule": "magnitude", "min": 0.0, "max": round(top, 4)}
    answer = api.translate_json(models, SENTENCE, ["gru", "bahdanau"])
    assert answer["models"]["bahdanau"]["statistics"]["scale"] == {"rule": "distribution", "min": 0.0, "max": 1.0}


def test_compare_says_when_its_two_maps_are_on_different_scales(ui):
    i = ui.inspector
    out = i.on_compare(SENTENCE, "gru", "bahdanau", "a")
    a, b = out[i.c_plot_a].layout.title.text, out[i.c_plot_b].layout.title.text
    assert "scales differ" in a and "scales differ" in b
    assert "0–1" in a.replace("0–1.0", "0–1") and "0–1" in b
    out = i.on_compare(SENTENCE, "bahdanau", "transformer", "a")         # both attention: one scale, no note
    assert "scales differ" not in out[i.c_plot_a].layout.title.text
    assert "scales differ" not in out[i.c_plot_b].layout.title.text


def test_scale_notes_by_hand():
    attention, saliency = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.1, 0.28]])
    assert scale_notes(("cross", "cross"), (attention, attention)) is None
    a, b = scale_notes(("saliency", "cross"), (saliency, attention))
    assert "0–0.28" in a and "B's 0–1" in a and "0–1" in b and "A's 0–0.28" in b
    assert scale_notes(("saliency", "saliency"), (saliency, saliency * 2)) is not None   # two saliency maxima
