"""The registry of map kinds (seq2seq.analysis.maps): every kind's shape on every architecture that has it, the
one cost model and refusal, the names of a kind's layers and heads, and that every view and test gets its maps
from the registry: a map planted in the registry shows in the cards, Inspect, Compare, Family, the API and the
faithfulness maps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import tiny_model
from seq2seq import ARCHITECTURES
from seq2seq.analysis import alti, faithfulness, inspection, maps
from seq2seq.data import EOS_IDX
from seq2seq.decoding import forced_decode

SRC = [4, 5, 6, 7, 8, 9]
TRG = [5, 6, 7, EOS_IDX]
SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_kind_a_model_has_is_shaped_layers_heads_rows_columns(arch):
    model = tiny_model(arch)
    forced = maps.Forced(model, SRC, TRG)
    T, S = len(TRG), len(SRC)
    offered = [k for k in maps.KINDS if maps.KINDS[k].offered(model)]
    assert {"saliency", "integrated_gradients", "input_x_gradient", "occlusion", "random"} <= set(offered)
    assert ("cross" in offered) == (arch not in ("lstm", "gru"))
    assert ("alti" in offered) == (arch == "transformer")
    for kind in offered:
        value = maps.compute(kind, forced)
        rows, columns = {"encoder_self": (S, S), "decoder_self": (T, T)}.get(kind, (T, S))
        assert value.dim() == 4 and value.shape[2:] == (rows, columns), kind
        assert (value.shape[:2] != (1, 1)) <= maps.KINDS[kind].grid, kind
        if maps.scale_rule(kind) == "distribution":                     # attention: each row sums to 1
            torch.testing.assert_close(value.sum(-1), torch.ones(value.shape[:-1]), msg=kind)
    assert maps.offered(model) == [k for k in maps.CARD_KINDS if k in offered]


def test_a_kind_reads_the_decoding_it_was_given_and_caches_what_it_computed():
    model = tiny_model("transformer")
    [hyp] = forced_decode(model, [SRC], [TRG])
    forced = maps.Forced(model, SRC, TRG, hyp.attention)
    cross = maps.compute("cross", forced)
    assert torch.equal(cross, hyp.attention["cross"].permute(1, 2, 0, 3))
    assert maps.compute("cross", forced) is cross                        # computed once
    torch.testing.assert_close(maps.source_map("cross", forced), hyp.attention["cross"].mean(dim=(1, 2)))
    torch.testing.assert_close(maps.source_map("alti", forced), alti.alti_plus(model, SRC, TRG).source)
    maps.compute("integrated_gradients", forced)
    assert torch.equal(forced.details["integrated_gradients"].source, maps.source_map("integrated_gradients", forced))
    with pytest.raises(KeyError, match="no ALTI"):
        maps.compute("alti", maps.Forced(tiny_model("gru"), SRC, TRG))


def test_names_of_a_kinds_layers_and_heads():
    assert maps.parse("cross") == ("cross", None, None)
    assert maps.parse("value_weighted_layer_2") == ("value_weighted", 1, None)
    assert maps.parse("cross_layer_2_head_3") == ("cross", 1, 2)
    model = tiny_model("transformer")                                    # 2 layers x 4 heads
    forced = maps.Forced(model, SRC, TRG)
    grid = maps.compute("cross", forced)
    expanded = maps.expand("cross", forced, heads=True)
    assert list(expanded)[:3] == ["cross", "cross_layer_1", "cross_layer_1_head_1"] and len(expanded) == 1 + 2 + 8
    torch.testing.assert_close(expanded["cross_layer_2_head_3"], grid[1, 2])
    torch.testing.assert_close(maps.source_map("cross_layer_2", forced), grid[1].mean(0))
    assert maps.label("cross_layer_2_head_3") == "cross-attention, layer 2, head 3"
    assert maps.mean_label("cross", model) == "cross-attention (mean of layers and heads)"
    assert maps.mean_label("cross", tiny_model("bahdanau")) == "cross-attention"
    assert maps.mean_label("saliency", model) == maps.KINDS["saliency"].label


def test_one_cost_model_and_one_refusal(monkeypatch):
    S, T = len(SRC), len(TRG)
    gradient = T * S + T * (T + 1) // 2
    assert maps.cost("saliency", S, T) == maps.cost("input_x_gradient", S, T) == gradient
    assert maps.cost("integrated_gradients", S, T) == 16 * gradient
    assert maps.cost("occlusion", S, T) == S * (S + T)
    assert maps.cost("cross", S, T) == maps.cost("random", S, T) == 0
    monkeypatch.setattr(maps, "MAX_COST", gradient)
    forced = maps.Forced(tiny_model("transformer"), SRC, TRG)
    for kind in ("saliency", "input_x_gradient", "cross", "alti", "random"):
        maps.compute(kind, forced)                                       # at the limit, or free: computed
    for kind in ("integrated_gradients", "occlusion"):
        with pytest.raises(maps.MapTooLong, match="too long to compute"):
            maps.compute(kind, forced)
    with pytest.raises(maps.MapTooLong):
        maps.source_and_prefix(forced.model, SRC, TRG)
    assert maps.source_map("saliency", maps.Forced(forced.model, SRC, [])).shape == (0, S)   # nothing to map


def test_alti_in_the_source_or_prefix_form():
    model = tiny_model("transformer")
    sp = maps.alti_source_and_prefix(model, SRC, TRG)
    c = alti.alti_plus(model, SRC, TRG)
    torch.testing.assert_close(sp.source_share, c.source.sum(-1) / (c.source.sum(-1) + c.prefix.sum(-1)))
    torch.testing.assert_close(sp.source_share + sp.prefix_share, torch.ones(len(TRG)))
    assert maps.alti_source_and_prefix(tiny_model("convs2s"), SRC, TRG) is None


def planted(kind: str, model_value):
    """The registry with ``kind`` replaced by a map whose row t is all on source word (t mod S)."""
    def compute(forced):
        T, S = len(forced.trg_ids), len(forced.src_ids)
        value = torch.zeros(1, 1, T, S)
        value[0, 0, torch.arange(T), torch.arange(T) % S] = 1.0
        return model_value(value)
    return dataclasses.replace(maps.KINDS[kind], compute=compute)


def diagonal(T: int, S: int) -> torch.Tensor:
    d = torch.zeros(T, S)
    d[torch.arange(T), torch.arange(T) % S] = 1.0
    return d


def test_every_view_gets_its_maps_from_the_registry(models, monkeypatch):
    """Plant a map in the registry (the default kind of a model without attention, saliency, and of one with,
    cross-attention) and find it in the cards, Inspect, Compare, Family, the API and the faithfulness maps."""
    from seq2seq.explorer import api, family
    from seq2seq.explorer.cards import card_figures
    from seq2seq.explorer.service import Inspection, compare, result_map, translate_all

    monkeypatch.setitem(maps.KINDS, "saliency", planted("saliency", lambda v: v))
    monkeypatch.setitem(maps.KINDS, "cross", planted("cross", lambda v: v.expand(2, 3, -1, -1)))
    results, _, _ = translate_all(models, SENTENCE, ["gru", "bahdanau"])
    for name, kind in (("gru", "saliency"), ("bahdanau", "cross")):
        t = results[name].translation
        want = diagonal(len(t.output_labels), len(t.src_tokens))
        assert torch.equal(card_figures(models, results[name], kind, None, None).shown, want), name     # the cards
        shown_kind, shown = result_map(models, results[name])                                          # Family's, the API's
        assert shown_kind == kind and torch.equal(shown, want)
        answer = api.result_json(models, results[name])                                                # the API
        assert answer["statistics"]["map"] == kind and answer["statistics"]["diagonality"] == pytest.approx(
            api.map_statistics(kind, want, t.src_tokens)["diagonality"])
        i = Inspection.run(models, name, SENTENCE)                                                     # Inspect
        assert torch.equal(i.map[1], diagonal(*i.map[1].shape)) and torch.equal(i.steps.weights, i.map[1])
    c, _ = compare(models, SENTENCE, "gru", "bahdanau", "a")                                           # Compare
    assert torch.equal(c.a, diagonal(*c.a.shape)) and torch.equal(c.b, diagonal(*c.b.shape))
    members, _, _ = family.family_maps(models, SENTENCE)                                               # Family
    assert members and all(torch.equal(m.weights, diagonal(*m.weights.shape)) for m in members if m.weights.numel())
    translator = models.translators["gru"]                                                             # the tests
    [t] = translator.translate([SENTENCE])
    scored = faithfulness.compute_maps(maps.Forced.of(translator, t), ("saliency",))
    assert torch.equal(scored["saliency"], diagonal(*scored["saliency"].shape))
    assert inspection.map_of(translator, t)[0] == "saliency"
