"""ERASER deletion tests (seq2seq.analysis.faithfulness) on a scripted model whose dependence on the source
is known in advance: output word t is a function of source word t alone, so the true map of step t is
source word t, and every faithfulness number below can be predicted."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from seq2seq.analysis import faithfulness
from seq2seq.analysis.faithfulness import DEFAULT_KINDS, forced_probs, main, masked, ranking, sentence_scores, top_k_count
from seq2seq.analysis.maps import Forced, source_map
from seq2seq.data import UNK_IDX
from seq2seq.decoding import forced_decode
from seq2seq.models.base import Seq2Seq, source_mask

V = 12                          # one vocabulary for both sides: source word i translates to target word i
SRC = [4, 9, 6, 11, 5, 8]       # distinct words
TRG = list(SRC)                 # the translation, word for word


def compute_maps(model, src, trg, kinds=DEFAULT_KINDS["deletion"], seed=0):
    return faithfulness.compute_maps(Forced(model, src, trg, seed=seed), kinds)


def occlusion(model, src, trg):
    return source_map("occlusion", Forced(model, src, trg))


def integrated_gradients(model, src, trg):
    return source_map("integrated_gradients", Forced(model, src, trg))


def input_x_gradient(model, src, trg):
    return source_map("input_x_gradient", Forced(model, src, trg))


class WordByWord(Seq2Seq):
    """Output step t reads source word t only: logits = 6 * onehot(source word t) (the embedding is the
    identity), so p(y_t) ~ 0.98 with the right word there and ~0.1 without it. Its cross-attention looks
    at word t ("true"), or at word S-1-t ("reversed": a map that is not what the model uses)."""

    arch = "word_by_word"
    attention_kinds = ("cross",)

    def __init__(self, attend: str = "true"):
        super().__init__(None, V, V)
        self.attend = attend
        self.src_embedding = nn.Embedding(V, V)
        with torch.no_grad():
            self.src_embedding.weight.copy_(torch.eye(V))

    def encode(self, src, src_lens):
        return {"emb": self.src_embedding(src), "mask": source_mask(src)}

    def init_state(self, enc):
        return {"t": torch.zeros(enc["emb"].size(0), dtype=torch.long, device=enc["emb"].device)}

    def decoder_step(self, prev, state, enc):
        t, S = state["t"], enc["emb"].size(1)
        rows = torch.arange(len(t), device=t.device)
        features = enc["emb"][rows, t.clamp(max=S - 1)]
        where = t.clamp(max=S - 1) if self.attend == "true" else (S - 1 - t).clamp(min=0)
        weights = nn.functional.one_hot(where, S).float()[:, None, None]      # [B, 1, 1, S]
        return features, {"t": t + 1}, {"cross": weights}

    def logits(self, features):
        return 6.0 * features


def test_scripted_model_behaves_as_designed():
    model = WordByWord().eval()
    [hyp] = forced_decode(model, [SRC], [TRG])
    assert min(math.exp(lp) for lp in hyp.step_log_probs) > 0.95
    [hyp] = forced_decode(model, [masked(SRC, [2], keep=False)], [TRG])
    p = [math.exp(lp) for lp in hyp.step_log_probs]
    assert p[2] < 0.2 and min(p[:2] + p[3:]) > 0.95


def test_every_gradient_map_and_occlusion_rank_the_true_word_first():
    model = WordByWord().eval()
    diagonal = torch.arange(len(SRC))
    for weights in (occlusion(model, SRC, TRG), integrated_gradients(model, SRC, TRG),
                    input_x_gradient(model, SRC, TRG)):
        assert torch.equal(weights.argmax(-1), diagonal)
        assert [ranking(row)[0] for row in weights] == diagonal.tolist()
    occ = occlusion(model, SRC, TRG)
    assert occ.diagonal().min() > 0.75                  # removing word t costs y_t most of its probability
    assert occ.fill_diagonal_(0).abs().max() < 1e-5     # and removing any other word costs it nothing


def test_deletion_scores_on_the_scripted_model():
    """The true map (the attention of the "true" model, integrated gradients) removes the one word that
    matters at k = 1: comprehensiveness = p(y|full) - p(y|word t gone), the largest possible (occlusion's),
    and sufficiency 0; the reversed attention and random maps score lower, as predicted."""
    true, wrong = WordByWord("true").eval(), WordByWord("reversed").eval()
    s_true = sentence_scores(Forced(true, SRC, TRG, seed=1)).means()
    s_wrong = sentence_scores(Forced(wrong, SRC, TRG, seed=1)).means()
    assert set(s_true) == {"cross", "saliency", "integrated_gradients", "input_x_gradient", "occlusion", "random"}
    [hyp] = forced_decode(true, [SRC], [TRG])
    full = [math.exp(lp) for lp in hyp.step_log_probs]
    gone = [math.exp(forced_decode(true, [masked(SRC, [t], keep=False)], [TRG])[0].step_log_probs[t])
            for t in range(len(TRG))]
    expected = sum(f - g for f, g in zip(full, gone)) / len(TRG)
    for kind in ("cross", "integrated_gradients", "input_x_gradient", "saliency", "occlusion"):
        assert s_true[kind]["comprehensiveness"]["1"] == pytest.approx(expected, abs=1e-5), kind
        assert abs(s_true[kind]["sufficiency"]["1"]) < 1e-5, kind
    comp = {k: s_true[k]["comprehensiveness"]["1"] for k in s_true}
    assert comp["random"] < comp["cross"] - 0.3
    assert s_true["random"]["sufficiency"]["1"] > 0.3
    # The reversed model computes the same words; only its attention lies (S is even: S-1-t != t).
    assert s_wrong["cross"]["comprehensiveness"]["1"] < 1e-5
    assert s_wrong["cross"]["sufficiency"]["1"] > 0.5
    assert s_wrong["integrated_gradients"]["comprehensiveness"]["1"] == pytest.approx(expected, abs=1e-5)
    # At 20% of 6 words (k = 2) the true word is among those removed for every map that ranks it first.
    assert s_true["cross"]["comprehensiveness"]["20%"] == pytest.approx(expected, abs=1e-4)


def test_maps_of_a_multi_layer_model_and_the_random_floor():
    from conftest import tiny_model

    model = tiny_model("transformer")
    maps = compute_maps(model, SRC[:5], [7, 8, 9, 3], seed=3)
    assert {"cross", "cross_layer_1", "cross_layer_2", "random"} <= set(maps)
    assert all(m.shape == (4, 5) for m in maps.values())
    assert torch.allclose(maps["cross"], (maps["cross_layer_1"] + maps["cross_layer_2"]) / 2, atol=1e-6)
    assert torch.equal(maps["random"], compute_maps(model, SRC[:5], [7, 8, 9, 3], ["random"], seed=3)["random"])
    assert not torch.equal(maps["random"], compute_maps(model, SRC[:5], [7, 8, 9, 3], ["random"], seed=4)["random"])
    assert "cross" not in compute_maps(tiny_model("gru"), SRC[:5], [7, 8, 3])
    # each head of each layer (2 x 4 in the tiny Transformer), when asked for; none for one head a layer (ConvS2S)
    heads = compute_maps(model, SRC[:5], [7, 8, 9, 3], ["cross_head"])
    assert sorted(heads) == [f"cross_layer_{l}_head_{h}" for l in (1, 2) for h in (1, 2, 3, 4)]
    assert not any("head" in k for k in maps)                      # not in the deletion test's default
    for layer in (1, 2):
        mean = sum(heads[f"cross_layer_{layer}_head_{h}"] for h in (1, 2, 3, 4)) / 4
        assert torch.allclose(mean, maps[f"cross_layer_{layer}"], atol=1e-6)
    assert compute_maps(tiny_model("convs2s"), SRC[:5], [7, 8, 3], ["cross_head"]) == {}


def test_top_k_masks_and_batched_probabilities():
    assert [top_k_count("20%", s) for s in (1, 4, 5, 6, 10, 11, 15)] == [1, 1, 1, 2, 2, 3, 3]
    assert top_k_count("2", 1) == 1 and top_k_count("1", 7) == 1
    assert masked([4, 5, 6, 7], [1, 3], keep=False) == (4, UNK_IDX, 6, UNK_IDX)
    assert masked([4, 5, 6, 7], [1, 3], keep=True) == (UNK_IDX, 5, UNK_IDX, 7)
    assert ranking(torch.tensor([0.1, 0.5, -2.0, 0.5])) == [1, 3, 0, 2]
    model = WordByWord().eval()
    requests = [(t, masked(SRC, [j], keep=False)) for t in range(len(TRG)) for j in range(len(SRC))]
    old = faithfulness.BATCH_ROWS
    try:
        faithfulness.BATCH_ROWS = 7                        # several chunks
        probs = forced_probs(model, requests, TRG)
    finally:
        faithfulness.BATCH_ROWS = old
    for (t, src) in requests[::5]:
        [hyp] = forced_decode(model, [list(src)], [TRG])
        assert probs[(t, src)] == pytest.approx(math.exp(hyp.step_log_probs[t]), abs=1e-6)


def test_command(checkpoint_root, data_dir, tmp_path, capsys):
    """The deletion half of the command end to end on a tiny random checkpoint and a slice of Multi30k
    (the alignment half: test_alignment.py)."""
    out = tmp_path / "f.json"
    assert main([str(checkpoint_root / "convs2s"), "--split", "test_2016_flickr", "--limit", "2",
                 "--data-dir", str(data_dir), "--json", str(out), "--only", "deletion"]) == 0
    printed = capsys.readouterr().out
    assert "comp@1" in printed and "integrated_gradients" in printed and "cross_layer_2" in printed
    result = json.loads(out.read_text())
    assert result["sentences"] == 2 and "alignment" not in result
    deletion = result["deletion"]
    assert deletion["sentences"] == 2 and deletion["removal"] == "<unk>"
    for kind in ("cross", "random", "occlusion"):
        assert set(deletion["scores"][kind]) == {"comprehensiveness", "sufficiency"}
        assert set(deletion["scores"][kind]["comprehensiveness"]) == {"1", "2", "20%"}
