"""Value-weighted attention (Kobayashi et al. 2020, "Attention is not only a weight"): each cross-attention
weight times the norm of the vector it moves, ||alpha_tj f(x_j)||, renormalised per row. Checked by hand on the
tiny models for the Transformer (a head's value through its share of the output projection), ConvS2S (the
attended values projected back by each block) and the RNN attention (the attended encoder state), and through
decoding, the cards and the faithfulness maps."""

from __future__ import annotations

import torch

from conftest import tiny_model
from seq2seq.analysis import faithfulness, maps
from seq2seq.decoding import forced_decode, greedy_search

SRC = [[4, 5, 6, 7, 8, 9]]
TRG = [[5, 6, 7, 3]]


def decoded(model):
    """The decoding's attention, with the registry's value-weighted map in [T, layers, heads, S] (the decoding's
    layout), and the encoder's output."""
    [hyp] = forced_decode(model, SRC, TRG)
    with torch.no_grad():
        enc = model.encode(torch.tensor(SRC), torch.tensor([len(SRC[0])]))
    weighted = maps.compute("value_weighted", maps.Forced(model, SRC[0], TRG[0], hyp.attention)).permute(2, 0, 1, 3)
    return {**hyp.attention, "value_weighted": weighted}, enc


def by_hand(alpha: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """[T, S] weights and [S] norms -> alpha * norm, each row summing to 1."""
    w = alpha * norms
    return w / w.sum(-1, keepdim=True)


def test_transformer_heads_weigh_by_their_value_through_the_output_projection():
    model = tiny_model("transformer")
    attention, enc = decoded(model)
    d_model, heads = model.config.d_model, model.config.heads
    d_k = d_model // heads
    for layer in range(model.config.decoder_layers):
        mha = model.decoder_layers[layer].cross_attn
        v = enc["memory"][0] @ mha.v_proj.weight.T + mha.v_proj.bias                 # [S, d]
        for head in range(heads):
            cols = slice(head * d_k, (head + 1) * d_k)
            f = v[:, cols] @ mha.out_proj.weight[:, cols].T                          # [S, d]: what the head adds
            want = by_hand(attention["cross"][:, layer, head], f.norm(dim=-1))
            assert torch.allclose(attention["value_weighted"][:, layer, head], want, atol=1e-5)


def test_convs2s_blocks_weigh_by_the_values_projected_back():
    model = tiny_model("convs2s")
    attention, enc = decoded(model)
    for layer, block in enumerate(model.dec_blocks):
        f = enc["combined"][0] @ block.from_emb.weight.T                             # [S, H], bias left out
        want = by_hand(attention["cross"][:, layer, 0], f.norm(dim=-1))
        assert torch.allclose(attention["value_weighted"][:, layer, 0], want, atol=1e-5)


def test_rnn_attention_weighs_by_the_attended_encoder_state():
    for arch in ("bahdanau", "luong"):
        model = tiny_model(arch)
        attention, enc = decoded(model)
        want = by_hand(attention["cross"][:, 0, 0], enc["keys"][0].norm(dim=-1))
        assert torch.allclose(attention["value_weighted"][:, 0, 0], want, atol=1e-5), arch


def test_models_without_attention_have_none_and_every_decoder_returns_it_alike():
    for arch in ("lstm", "gru"):
        model = tiny_model(arch)
        [hyp] = greedy_search(model, SRC, max_len=4)
        assert "value_norms" not in hyp.attention and "value_weighted" not in maps.offered(model)
    model = tiny_model("transformer")
    [greedy] = greedy_search(model, SRC, max_len=4)
    [forced] = forced_decode(model, SRC, [greedy.tokens])
    assert torch.allclose(greedy.attention["value_norms"], forced.attention["value_norms"], atol=1e-6)
    weighted = maps.compute("value_weighted", maps.Forced(model, SRC[0], greedy.tokens, greedy.attention))
    assert torch.allclose(weighted.sum(-1), torch.ones(weighted.shape[:-1]))


def test_the_faithfulness_maps_include_it_per_layer_and_head():
    model = tiny_model("transformer")
    scored = faithfulness.compute_maps(maps.Forced(model, SRC[0], TRG[0]),
                                       kinds=("value_weighted", "value_weighted_layer", "value_weighted_head"))
    attention, _ = decoded(model)
    vw = attention["value_weighted"]
    assert torch.allclose(scored["value_weighted"], vw.mean(dim=(1, 2)))
    assert torch.allclose(scored["value_weighted_layer_2"], vw[:, 1].mean(dim=1))
    assert torch.allclose(scored["value_weighted_layer_1_head_3"], vw[:, 0, 2])
    assert not (scored["value_weighted"] - attention["cross"].mean(dim=(1, 2))).abs().max() < 1e-6   # not the plain map


def test_scoring_more_map_kinds_on_as_many_sentences_adds_them_to_those_kept(tmp_path):
    import json

    from seq2seq.analysis.faithfulness import save

    aer = lambda v: {"argmax": v, "shifted": v}  # noqa: E731
    (tmp_path / "metrics.json").write_text(json.dumps({"faithfulness": {
        "alignment": {"sentences": 500, "seconds": 10.0, "aer": {"cross": aer(0.42)}},
        "deletion": {"sentences": 500, "seconds": 20.0, "scores": {"cross": {"comprehensiveness": {"1": 0.4}}}}}}))
    save(tmp_path, {"alignment": {"sentences": 500, "seconds": 5.0, "aer": {"value_weighted": aer(0.41)}}})
    f = json.loads((tmp_path / "metrics.json").read_text())["faithfulness"]
    assert set(f["alignment"]["aer"]) == {"cross", "value_weighted"} and f["alignment"]["seconds"] == 15.0
    assert f["deletion"]["scores"]["cross"]["comprehensiveness"]["1"] == 0.4          # the other test kept
    save(tmp_path, {"alignment": {"sentences": 100, "seconds": 1.0, "aer": {"value_weighted": aer(0.5)}}})
    f = json.loads((tmp_path / "metrics.json").read_text())["faithfulness"]
    assert set(f["alignment"]["aer"]) == {"value_weighted"}                               # another sample: replaced
