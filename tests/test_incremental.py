"""Incremental decoding, proven by counting and by independent computation:

* every search encodes each sentence once (a counter on ``encode`` and a hook on the source embedding);
* one decoding step does the work of one new position: every linear layer, convolution and RNN the
  step runs sees exactly one position per sentence (never the prefix again, never the source);
* step by step equals the model's parallel ``forward`` (Transformer, ConvS2S, LSTM, GRU, whose
  ``forward`` really is parallel);
* the recurrent models' steps equal a hand-unrolled computation from the papers' equations: Bahdanau
  and Luong (whose ``forward`` is the same loop as ``step``, so comparing with it would prove
  nothing), and the LSTM and GRU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from seq2seq import ARCHITECTURES, beam_search, forced_decode, greedy_search
from seq2seq.data import PAD_IDX, SOS_IDX
from seq2seq.models.base import Seq2Seq

from conftest import tiny_model

ARCHS = list(ARCHITECTURES)
SOURCES = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18, 19]]


@pytest.fixture(autouse=True)
def no_grad():
    with torch.no_grad():
        yield


def padded_batch(seed=0, lengths=(7, 4, 6), t=6, vocab=40):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=g)
    for i, n in enumerate(lengths):
        src[i, n:] = PAD_IDX
    trg = torch.randint(4, vocab, (len(lengths), t), generator=g)
    trg[:, 0] = SOS_IDX
    return src, torch.tensor(lengths), trg


def randomise(model: nn.Module, std: float = 0.5, seed: int = 1) -> nn.Module:
    """N(0, std) weights: attention and gates far from uniform, so a wrong wiring shows."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def run_steps(model, src, lens, trg):
    enc = model.encode(src, lens)
    state = model.init_state(enc)
    logits, attns = [], []
    for t in range(trg.size(1)):
        step_logits, state, attn = model.step(trg[:, t], state, enc)
        logits.append(step_logits)
        attns.append(attn)
    return torch.stack(logits, 1), attns


# ---------------------------------------------------------------------------- the encoder runs once


@pytest.mark.parametrize("arch", ARCHS)
def test_every_search_encodes_each_sentence_once(arch):
    model = tiny_model(arch)
    calls, embedded = [], []
    encode = model.encode

    def counting_encode(src, src_lens):
        calls.append(src.size(0))
        return encode(src, src_lens)

    model.encode = counting_encode
    handle = model.src_embedding.register_forward_hook(lambda m, args, out: embedded.append(args[0].size(0)))
    try:
        greedy_search(model, SOURCES, max_len=8)
        beam_search(model, SOURCES, beam_size=3, max_len=8)       # once per sentence, not per beam
        forced_decode(model, SOURCES, [[5, 6, 7]] * 3)
    finally:
        handle.remove()
    assert calls == [3, 3, 3]
    assert embedded == [3, 3, 3]              # and nothing else runs the source through the embedding


# ---------------------------------------------------------------------------- one position per step


@pytest.mark.parametrize("arch", ARCHS)
def test_a_step_computes_one_new_position_only(arch):
    """Hooks on every nn.Linear, nn.Conv1d and RNN: during a step each sees one position per sentence.
    (Recomputing the prefix would show as t+1 positions, re-projecting the source as S; the one layer
    that must see every source word, additive attention's scoring vector, is told apart by its one output.)"""
    model = tiny_model(arch)
    src, lens, trg = padded_batch(t=7)
    b = src.size(0)
    calls: list[tuple[str, int]] = []

    def positions(module, args, out):
        x = args[0]
        if isinstance(module, nn.Linear):
            n = x.numel() // (x.size(-1) * b)
        elif isinstance(module, nn.Conv1d):                       # [B, C, L] -> [B, 2C, L - k + 1]
            n = out.size(-1)
        elif isinstance(module, nn.RNNCellBase):
            n = x.numel() // (x.size(-1) * b)
        elif isinstance(x, PackedSequence):                       # nn.LSTM / nn.GRU
            n = len(x.batch_sizes)
        else:                                                     # nn.LSTM / nn.GRU, batch first
            n = x.size(1)
        if isinstance(module, nn.Linear) and module.out_features == 1 and n == src.size(1):
            n = 1      # additive attention's v_a^T tanh(...): one score per source word is the attention itself
        calls.append((type(module).__name__, n))

    enc = model.encode(src, lens)
    state = model.init_state(enc)
    handles = [m.register_forward_hook(positions) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv1d, nn.RNNBase, nn.RNNCellBase))]
    try:
        per_step = []
        for t in range(trg.size(1)):
            calls.clear()
            _, state, _ = model.step(trg[:, t], state, enc)
            per_step.append(list(calls))
    finally:
        for h in handles:
            h.remove()
    assert per_step[0], "the step ran no layer at all?"
    for t, step_calls in enumerate(per_step):
        assert all(n == 1 for _, n in step_calls), f"step {t}: {step_calls}"
        assert step_calls == per_step[0], f"step {t} ran other layers than step 0"   # constant work per step


# ---------------------------------------------------------------------------- step by step = parallel


@pytest.mark.parametrize("arch", ["transformer", "convs2s", "lstm", "gru"])
def test_step_by_step_equals_the_parallel_forward(arch):
    model = randomise(tiny_model(arch), std=0.3)
    assert type(model).forward is not Seq2Seq.forward, "forward is the step loop: comparing would prove nothing"
    src, lens, trg = padded_batch(t=7)
    stepped, _ = run_steps(model, src, lens, trg)
    full = model(src, lens, trg)
    assert full.shape == (3, 7, model.trg_vocab_size)
    torch.testing.assert_close(stepped, full, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------- hand-unrolled RNNs


def linear(layer, x):
    return x @ layer.weight.T + (layer.bias if layer.bias is not None else 0)


def tied_output(model, features):
    """TiedOutput: proj(x) @ E^T + b, with the target embedding E."""
    proj = model.output.proj
    x = features if isinstance(proj, nn.Identity) else linear(proj, features)
    return x @ model.trg_embedding.weight.T + model.output.bias


def gru_cell(cell: nn.Module, x, h, suffix: str = ""):
    """r = s(W_ir x + b_ir + W_hr h + b_hr), z = ..., n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1-z) n + z h
    (``suffix`` "_l0" for the first layer of an nn.GRU)."""
    gi = x @ getattr(cell, "weight_ih" + suffix).T + getattr(cell, "bias_ih" + suffix)
    gh = h @ getattr(cell, "weight_hh" + suffix).T + getattr(cell, "bias_hh" + suffix)
    r, z, n_i = gi.chunk(3, dim=-1)
    r_h, z_h, n_h = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(r + r_h), torch.sigmoid(z + z_h)
    n = torch.tanh(n_i + r * n_h)
    return (1 - z) * n + z * h


def lstm_layer(lstm: nn.LSTM, layer: int, x, h, c):
    """One step of one layer: gates i, f, g, o; c' = f c + i g; h' = o tanh(c')."""
    gates = (x @ getattr(lstm, f"weight_ih_l{layer}").T + getattr(lstm, f"bias_ih_l{layer}")
             + h @ getattr(lstm, f"weight_hh_l{layer}").T + getattr(lstm, f"bias_hh_l{layer}"))
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def softmax(scores):
    return torch.softmax(scores, dim=-1)


def bahdanau_by_hand(model, src_ids: list[int], trg_ids: list[int]):
    """Bahdanau et al. 2015 for one unpadded sentence: h_i = [h_fwd_i; h_bwd_i] of a bidirectional GRU,
    s_0 = tanh(W_s [h_fwd_S; h_bwd_1]); per output: e_i = v^T tanh(W s_{t-1} + U h_i), a = softmax(e),
    c = sum a_i h_i, s_t = GRU([y_{t-1}; c], s_{t-1}), logits from [s_t; c; y_{t-1}]."""
    src = torch.tensor([src_ids])
    keys, h_n = model.encoder(model.src_embedding(src))            # the whole sentence, nothing padded
    keys, h_n = keys[0], h_n[:, 0]                                   # [S, 2E], [2, E]
    s = torch.tanh(linear(model.init_hidden, torch.cat([h_n[0], h_n[1]])))
    att = model.attention
    logits, weights = [], []
    for y in trg_ids:
        emb = model.trg_embedding.weight[y]
        e = torch.stack([linear(att.v_a, torch.tanh(linear(att.W_q, s) + linear(att.W_k, keys[i])))[0]
                         for i in range(len(src_ids))])
        a = softmax(e)
        context = (a[:, None] * keys).sum(0)
        s = gru_cell(model.decoder, torch.cat([emb, context]), s)
        logits.append(tied_output(model, torch.cat([s, context, emb])))
        weights.append(a)
    return torch.stack(logits), torch.stack(weights)


def luong_by_hand(model, src_ids: list[int], trg_ids: list[int]):
    """Luong et al. 2015, general score, input feeding, stacked LSTMs, for one unpadded sentence: the
    decoder's layer l starts from [h_fwd; h_bwd] (and the cells likewise) of the encoder's layer l;
    per output: s_t = LSTM([y_{t-1}; ~h_{t-1}]), a = softmax(s_t^T W_a h_i), c = sum a_i h_i,
    ~h_t = tanh(W_c [c; s_t]), logits from ~h_t."""
    layers, hidden = model.config.layers, model.config.hidden_dim
    keys, (h_n, c_n) = model.encoder(model.src_embedding(torch.tensor([src_ids])))
    keys = keys[0]                                                   # [S, H]
    h = [torch.cat([h_n[2 * l, 0], h_n[2 * l + 1, 0]]) for l in range(layers)]
    c = [torch.cat([c_n[2 * l, 0], c_n[2 * l + 1, 0]]) for l in range(layers)]
    feed = torch.zeros(hidden)
    W_a = model.attention.W_a.weight                                 # [query, key]
    logits, weights = [], []
    for y in trg_ids:
        x = torch.cat([model.trg_embedding.weight[y], feed])
        for l in range(layers):
            h[l], c[l] = lstm_layer(model.decoder, l, x, h[l], c[l])
            x = h[l]
        s = h[-1]
        a = softmax(torch.stack([s @ (W_a @ keys[i]) for i in range(len(src_ids))]))
        context = (a[:, None] * keys).sum(0)
        feed = torch.tanh(linear(model.combine, torch.cat([context, s])))
        logits.append(tied_output(model, feed))
        weights.append(a)
    return torch.stack(logits), torch.stack(weights)


def lstm_by_hand(model, src_ids: list[int], trg_ids: list[int]):
    """Sutskever et al. 2014: a stacked LSTM reads the source reversed; its final (h, c) per layer start
    a stacked LSTM decoder, whose top state predicts each word."""
    assert model.config.reverse_source
    layers = model.config.layers
    _, (h_n, c_n) = model.encoder(model.src_embedding(torch.tensor([src_ids[::-1]])))
    h, c = [h_n[l, 0] for l in range(layers)], [c_n[l, 0] for l in range(layers)]
    logits = []
    for y in trg_ids:
        x = model.trg_embedding.weight[y]
        for l in range(layers):
            h[l], c[l] = lstm_layer(model.decoder, l, x, h[l], c[l])
            x = h[l]
        logits.append(tied_output(model, h[-1]))
    return torch.stack(logits), None


def gru_by_hand(model, src_ids: list[int], trg_ids: list[int]):
    """Cho et al. 2014: the encoder GRU's last state is the context c; the decoder starts from tanh(W c),
    reads [y_{t-1}; c] at every step and predicts from [s_t; y_{t-1}; c]."""
    _, h_n = model.encoder(model.src_embedding(torch.tensor([src_ids])))
    context = h_n[-1, 0]
    s = torch.tanh(linear(model.init_hidden, context))
    logits = []
    for y in trg_ids:
        emb = model.trg_embedding.weight[y]
        s = gru_cell(model.decoder, torch.cat([emb, context]), s, "_l0")
        logits.append(tied_output(model, torch.cat([s, emb, context])))
    return torch.stack(logits), None


@pytest.mark.parametrize("arch, by_hand", [("bahdanau", bahdanau_by_hand), ("luong", luong_by_hand),
                                           ("lstm", lstm_by_hand), ("gru", gru_by_hand)])
def test_rnn_steps_equal_the_papers_equations_unrolled_by_hand(arch, by_hand):
    model = randomise(tiny_model(arch))
    if arch == "luong":
        assert model.config.score == "general" and model.config.input_feeding and model.config.layers == 2
    src, lens, trg = padded_batch(t=6)
    stepped, attns = run_steps(model, src, lens, trg)               # the batch, padded
    for row, n in enumerate(lens.tolist()):
        logits, weights = by_hand(model, src[row, :n].tolist(), trg[row].tolist())
        torch.testing.assert_close(stepped[row], logits, atol=1e-4, rtol=1e-4)
        if weights is None:                                           # no attention
            assert all(a == {} for a in attns)
            continue
        cross = torch.stack([a["cross"][row, 0, 0] for a in attns])   # [T, S]
        torch.testing.assert_close(cross[:, :n], weights, atol=1e-5, rtol=1e-4)
        assert (cross[:, n:] == 0).all()
