"""ALTI+ (Ferrando et al. 2022): checked against the paper's equations computed here by hand from the weights (one
head, one position, one token at a time, and the rollout as a product of whole-sentence matrices), for pre-LN and
post-LN; its properties (rows summing to 1, non-negative, causal prefix); a model whose cross-attention adds
nothing has no source share; and on the shipped Transformer it is neither uniform nor the mean cross-attention."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import ROOT, tiny_model
from seq2seq.analysis.alti import Contributions, alti_plus, decompose, has_alti
from seq2seq.data import SOS_IDX

SRC = [4, 5, 6, 7, 8, 9]
TRG = [5, 6, 7, 8, 3]             # the forced output, ending with <eos>


# ---------------------------------------------------------------------------- the paper's equations, by hand


def layer_norm(x: torch.Tensor, norm) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    return norm.weight * (x - mu) / ((x - mu).pow(2).mean(-1, keepdim=True) + norm.eps).sqrt() + norm.bias


def positions(length: int, d: int) -> torch.Tensor:
    pe = torch.zeros(length, d)
    for pos in range(length):
        for i in range(0, d, 2):
            pe[pos, i] = math.sin(pos / 10000 ** (i / d))
            pe[pos, i + 1] = math.cos(pos / 10000 ** (i / d))
    return pe


def heads(mha, queries: torch.Tensor, keys: torch.Tensor, causal: bool, n_heads: int):
    """Per head: alpha^h [h, Lq, Lk] and f^h(x_j) = (x_j W_V^h + b_V^h) W_O^h [h, Lk, d]."""
    d = queries.size(-1)
    d_k = d // n_heads
    alphas, fs = [], []
    for h in range(n_heads):
        cols = slice(h * d_k, (h + 1) * d_k)
        q = queries @ mha.q_proj.weight[cols].T + mha.q_proj.bias[cols]
        k = keys @ mha.k_proj.weight[cols].T + mha.k_proj.bias[cols]
        v = keys @ mha.v_proj.weight[cols].T + mha.v_proj.bias[cols]
        scores = q @ k.T / math.sqrt(d_k)
        if causal:
            scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
        alphas.append(torch.softmax(scores, -1))
        fs.append(v @ mha.out_proj.weight[:, cols].T)
    return torch.stack(alphas), torch.stack(fs)


def sublayer(mha, norm, norm_first: bool, x: torch.Tensor, memory: torch.Tensor | None, causal: bool, n_heads: int):
    """One attention sub-layer: (its output, ALTI's contributions [Lq, K]) straight from the paper's equations: the
    vectors T_i(x_j), the layer norm linearised with sigma_i fixed (post-LN), c_ij = max(0, -||y_i - T_i(x_j)||_1
    + ||y_i||_1), normalised per row. Cross-attention (``memory`` given) has K = S + 1: the residual last."""
    read = layer_norm(x, norm) if norm_first else x
    alpha, f = heads(mha, read, read if memory is None else memory, causal, n_heads)
    b_o = mha.out_proj.bias
    outputs, rows = [], []
    for i in range(x.size(0)):
        vectors = [sum(alpha[h, i, j] * f[h, j] for h in range(n_heads)) for j in range(alpha.size(-1))]
        if memory is None:
            vectors[i] = vectors[i] + x[i]              # the residual is token i's own
        else:
            vectors.append(x[i])                        # the decoder's stream: one more "token"
        total = sum(vectors) + b_o
        if norm_first:
            y = total
        else:
            sigma = ((total - total.mean()).pow(2).mean() + norm.eps).sqrt()

            def lin(u):
                return norm.weight * (u - u.mean()) / sigma

            vectors = [lin(v) for v in vectors]
            y = sum(vectors) + lin(b_o) + norm.bias
            assert torch.allclose(y, layer_norm(total, norm), atol=1e-5)    # the linearisation is exact
        c = torch.stack([torch.clamp(-(y - v).abs().sum() + y.abs().sum(), min=0) for v in vectors])
        outputs.append(y)
        rows.append(c / c.sum())
    return torch.stack(outputs), torch.stack(rows)


def feed_forward(ff, res, x, norm_first: bool):
    def f(a):
        return torch.relu(a @ ff[0].weight.T + ff[0].bias) @ ff[3].weight.T + ff[3].bias
    return x + f(layer_norm(x, res.norm)) if norm_first else layer_norm(x + f(x), res.norm)


def alti_by_hand(model, src: list[int], trg: list[int]):
    """ALTI+ (source [T, S], prefix [T, T]) and the logits [T, V], computed from the weights alone. The rollout
    is a product of (S + T) x (S + T) matrices over all tokens: the source rows stay themselves, the target rows
    mix by each sub-layer's contributions."""
    c = model.config
    nf, d, n_heads = c.norm_first, c.d_model, c.heads
    trg_in = [SOS_IDX] + trg[:-1]
    S, T = len(src), len(trg_in)
    x = model.src_embedding.weight[src] * math.sqrt(d) + positions(S, d)
    enc = torch.eye(S)
    for layer in model.encoder_layers:
        x, contrib = sublayer(layer.self_attn, layer.res_attn.norm, nf, x, None, False, n_heads)
        enc = contrib @ enc
        x = feed_forward(layer.ff, layer.res_ff, x, nf)
    memory = layer_norm(x, model.encoder_norm) if nf else x
    y = model.trg_embedding.weight[trg_in] * math.sqrt(d) + positions(T, d)
    total = torch.block_diag(enc, torch.eye(T))                 # [S + T, S + T]: rows what each token is made of
    for layer in model.decoder_layers:
        y, c_self = sublayer(layer.self_attn, layer.res_self.norm, nf, y, None, True, n_heads)
        mix = torch.block_diag(torch.eye(S), c_self)
        total = mix @ total
        y, c_cross = sublayer(layer.cross_attn, layer.res_cross.norm, nf, y, memory, False, n_heads)
        mix = torch.eye(S + T)
        mix[S:, :S] = c_cross[:, :S]
        mix[S:, S:] = torch.diag(c_cross[:, S])
        total = mix @ total
        y = feed_forward(layer.ff, layer.res_ff, y, nf)
    if nf:
        y = layer_norm(y, model.decoder_norm)
    logits = y @ model.trg_embedding.weight.T + model.output.bias
    return total[S:, :S], total[S:, S:], logits


# ---------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
def test_alti_plus_is_the_papers_equations_computed_by_hand(norm_first, layers):
    model = tiny_model("transformer", d_model=8, heads=2, ff_dim=16, encoder_layers=layers, decoder_layers=layers,
                       norm_first=norm_first, seed=3)
    with torch.no_grad():
        source, prefix, logits = alti_by_hand(model, SRC, TRG)
        # the hand-written forward pass is the model's
        want = model(torch.tensor([SRC]), torch.tensor([len(SRC)]), torch.tensor([[SOS_IDX] + TRG[:-1]]))[0]
    assert torch.allclose(logits, want, atol=1e-4)
    got = alti_plus(model, SRC, TRG)
    assert isinstance(got, Contributions)
    assert got.source.shape == (len(TRG), len(SRC)) and got.prefix.shape == (len(TRG), len(TRG))
    assert torch.allclose(got.source, source, atol=1e-5)
    assert torch.allclose(got.prefix, prefix, atol=1e-5)
    assert torch.allclose(got.source_share, source.sum(-1), atol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
def test_each_sublayer_is_the_sum_of_its_token_vectors(norm_first):
    """The decomposition reproduces every sub-layer's output exactly (the linearised post-LN norm too)."""
    model = tiny_model("transformer", norm_first=norm_first)
    trg_in = torch.tensor([[SOS_IDX] + TRG[:-1]])
    with torch.no_grad():
        subs = model.attention_sublayers(torch.tensor([SRC]), torch.tensor([len(SRC)]), trg_in)
        features = model.decoder_layer_features(torch.tensor([SRC]), torch.tensor([len(SRC)]), trg_in)
    assert [len(subs[k]) for k in ("encoder_self", "decoder_self", "cross")] == [2, 2, 2]
    for kind, layers in subs.items():
        for sub in layers:
            parts, y = decompose(sub, kind != "cross")
            k = sub["weights"].size(-1) + (kind == "cross")
            assert parts.shape == (sub["residual"].size(1), k, model.config.d_model)
            assert torch.allclose(y, sub["output"][0], atol=1e-5)
    # the last cross sub-layer's output then goes through the feed-forward to the decoder's features
    last = model.decoder_layers[-1]
    x = subs["cross"][-1]["output"]
    with torch.no_grad():
        out, _ = last.res_ff(x, lambda a: (last.ff(a), None))
    assert torch.allclose(out, features[-1], atol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_are_distributions_over_source_and_a_causal_prefix(norm_first, seed):
    model = tiny_model("transformer", norm_first=norm_first, seed=seed)
    c = alti_plus(model, SRC, TRG)
    assert (c.source >= 0).all() and (c.prefix >= 0).all()
    assert torch.allclose(c.source.sum(-1) + c.prefix.sum(-1), torch.ones(len(TRG)), atol=1e-5)
    assert (c.prefix.triu(1) == 0).all()
    assert torch.allclose(c.source_share, c.source.sum(-1))
    assert ((c.source_share > 0) & (c.source_share < 1)).all()
    # an unfinished output (no <eos>) is as many rows
    assert alti_plus(model, SRC, TRG[:-1]).source.shape == (len(TRG) - 1, len(SRC))


@pytest.mark.parametrize("norm_first", [True, False])
def test_no_source_share_when_the_cross_attention_adds_nothing(norm_first):
    model = tiny_model("transformer", norm_first=norm_first)
    with torch.no_grad():
        for layer in model.decoder_layers:
            layer.cross_attn.out_proj.weight.zero_()
            layer.cross_attn.out_proj.bias.zero_()
    c = alti_plus(model, SRC, TRG)
    assert c.source_share.abs().max() < 1e-6
    assert torch.allclose(c.prefix.sum(-1), torch.ones(len(TRG)), atol=1e-5)


def test_only_models_that_lay_their_attention_open():
    assert has_alti(tiny_model("transformer"))
    for arch in ("lstm", "bahdanau", "convs2s"):
        model = tiny_model(arch)
        assert not has_alti(model)
        with pytest.raises(ValueError, match="no ALTI"):
            alti_plus(model, SRC, TRG)


def test_shipped_transformer_is_not_uniform_nor_the_mean_cross_attention():
    path = Path(ROOT) / "checkpoints" / "transformer"
    try:
        from seq2seq.translator import load_checkpoint

        translator = load_checkpoint(path, "cpu")
    except Exception as e:                     # noqa: BLE001: a clone without the weights (LFS pointers)
        pytest.skip(f"the shipped Transformer does not load: {e}")
    [t] = translator.translate(["Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt."])
    src, trg = translator.ids(t)
    c = alti_plus(translator.model, src, trg)
    rows = c.source / c.source_share[:, None]                  # each row over the source only, as attention is
    uniform = torch.full_like(rows, 1 / len(src))
    assert (rows - uniform).abs().sum(-1).min() > 0.5           # every row far from uniform (L1, at most 2)
    mean_cross = t.attention["cross"].mean(dim=(1, 2))          # [T, S]
    assert mean_cross.shape == rows.shape
    assert (rows - mean_cross).abs().sum(-1).mean() > 0.2
    assert ((c.source_share > 0.05) & (c.source_share < 0.95)).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_the_models_device():
    model = tiny_model("transformer")
    want = alti_plus(model, SRC, TRG)
    got = alti_plus(model.cuda(), SRC, TRG)
    assert got.source.device.type == "cpu"
    assert torch.allclose(got.source, want.source, atol=1e-4) and torch.allclose(got.prefix, want.prefix, atol=1e-4)
