"""The formulas themselves, pinned: ConvS2S's and the Transformer's forward passes against the papers'
equations written out here with plain torch ops on the modules' own weights (tiny sizes, every weight and
bias drawn at random so none is a no-op), and integrated gradients' source-or-prefix share on scripted
models whose output depends on the source only (share 1) or on the target prefix only (share 0).

The other model tests compare two paths through the same blocks (step by step against the parallel
forward), so a formula that is wrong in the block itself (a query without the target embedding, a sub-layer
without its LayerNorm) passes them; these do not. Each reference below is the paper's equation, with this
project's stated departures (docs/paper-fidelity.md): ConvS2S's √0.5 on the query and values, as fairseq.

Proved by planting bugs one at a time in a scratch copy; each made this file fail (* = every older ConvS2S,
Transformer and attribution test stayed green): ConvS2S query without the target embedding*, values without
the source embedding*, context scaled by m instead of m·√(1/m)*, block residual not scaled by √0.5*, the query
scaled twice*, the encoder GLU's halves swapped*, encoder convolutions reading the padding, attention over the
padding; pre-LN sub-layer without its LayerNorm*, or without its residual, post-LN norming the sub-layer's
input instead of the sum*, attention scaled by 1/d_k*, embeddings not scaled by √d_model*, sin and cos
swapped*, the decoder reading the encoder before its final LayerNorm*, a feed-forward without its ReLU*,
heads merged without their transpose, a causal mask that sees the next word; the source-or-prefix share from
signed sums, or with the two shares swapped*.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seq2seq import build_model
from seq2seq.analysis.attribution import source_and_prefix
from seq2seq.data import EOS_IDX, PAD_IDX, SOS_IDX
from seq2seq.models.base import Seq2Seq

V = 16            # vocabulary of the tiny models


def randomise(model: nn.Module, seed: int = 0, double: bool = True) -> nn.Module:
    """Every parameter (LayerNorm gains and biases too) drawn from N(0, 0.5²), <pad> embeddings kept 0; in
    float64 (``double``), so that the model and the reference agree to ~1e-12 and the comparison can be tight."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
        for name, module in model.named_modules():
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
    return (model.double() if double else model).eval()


def batch(seed: int = 1):
    """Sources of lengths 5, 3, 4 (padded to 5) and targets of length 4 starting with <sos>."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (3, 5), generator=g)
    lens = torch.tensor([5, 3, 4])
    for i, n in enumerate(lens):
        src[i, n:] = PAD_IDX
    trg = torch.randint(4, V, (3, 4), generator=g)
    trg[:, 0] = SOS_IDX
    return src, lens, trg


def linear(x, layer):
    """x W^T + b, from the layer's weights."""
    return x @ layer.weight.T + layer.bias


def conv(x, layer, left: int, right: int):
    """A 1-D convolution over positions written as sums: x [B, L, C_in], weight [C_out, C_in, k], ``left`` and
    ``right`` zeros around the sequence. out[t] = b + sum_j W[:, :, j] x[t + j - left]. Returns [B, L, C_out]."""
    k = layer.weight.size(2)
    padded = torch.cat([x.new_zeros(x.size(0), left, x.size(2)), x, x.new_zeros(x.size(0), right, x.size(2))], dim=1)
    length = padded.size(1) - k + 1
    return layer.bias + sum(padded[:, j:j + length] @ layer.weight[:, :, j].T for j in range(k))


def glu(x):
    """GLU(a, b) = a ⊙ σ(b), a the first half of the channels."""
    a, b = x.chunk(2, dim=-1)
    return a * torch.sigmoid(b)


def softmax_over(scores, allowed):
    """softmax over the positions ``allowed`` (True), exactly 0 elsewhere."""
    scores = scores.masked_fill(~allowed, float("-inf"))
    e = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


# ---------------------------------------------------------------------------- ConvS2S (Gehring et al. 2017)

CONV = dict(emb_dim=6, hidden_dim=8, encoder_layers=2, decoder_layers=2, kernel_size=3, dropout=0.0, max_positions=32)


def convs2s_reference(m, src, trg_in):
    """The paper's equations (section 3) on ``m``'s weights: keys z, values (z + e)·√0.5, and per decoder layer
    the query d = (W_d h + b_d + g)·√0.5, weights a = softmax(d · z), context c = Σ a (z + e)·√0.5 (times
    m·√(1/m), m the real source words, with scale_context), block output ((h + W c + b)·√0.5 + residual)·√0.5.
    Returns keys [B, S, E], values [B, S, E], the weights of each layer [B, T, S] and the logits [B, T, V]."""
    c, r = m.config, math.sqrt(0.5)
    real = src != PAD_IDX                                                     # [B, S]
    S, T = src.size(1), trg_in.size(1)
    e = m.src_embedding.weight[src] + m.src_positions.weight[:S]              # [B, S, E] words + positions
    h = linear(e, m.enc_in)                                                   # [B, S, H]
    for layer in m.enc_convs:
        x = h * real[..., None]                                               # padding reads as zeros
        h = (glu(conv(x, layer, c.kernel_size // 2, c.kernel_size // 2)) + h) * r
    z = linear(h, m.enc_out) * real[..., None]                                # keys [B, S, E]
    values = (z + e) * r                                                      # [B, S, E]
    g = m.trg_embedding.weight[trg_in] + m.trg_positions.weight[:T]           # [B, T, E] target embeddings
    h = linear(g, m.dec_in)                                                   # [B, T, H]
    weights = []
    for block in m.dec_blocks:
        a = glu(conv(h, block.conv, c.kernel_size - 1, 0))                    # causal: k - 1 zeros on the left
        d = (linear(a, block.to_emb) + g) * r                                 # the query [B, T, E]
        w = softmax_over(d @ z.transpose(1, 2), real[:, None, :])             # [B, T, S]
        context = w @ values                                                  # [B, T, E]
        if c.scale_context:
            n = real.sum(dim=1).to(values.dtype)[:, None, None]
            context = context * (n * torch.sqrt(1 / n))
        h = ((a + linear(context, block.from_emb)) * r + h) * r
        weights.append(w)
    logits = linear(h, m.output.proj) @ m.trg_embedding.weight.T + m.output.bias
    return z, values, weights, logits


def stepwise(model, src, lens, trg_in):
    """Decode step by step, forced along trg_in: logits [B, T, V] and each step's attention dict."""
    enc = model.encode(src, lens)
    state = model.init_state(enc)
    logits, attns = [], []
    for t in range(trg_in.size(1)):
        step_logits, state, attn = model.step(trg_in[:, t], state, enc)
        logits.append(step_logits)
        attns.append(attn)
    return enc, torch.stack(logits, dim=1), attns


@pytest.mark.parametrize("scale_context", [False, True])
def test_convs2s_matches_the_papers_equations(scale_context):
    model = randomise(build_model("convs2s", V, V, **CONV, scale_context=scale_context))
    src, lens, trg = batch()
    with torch.no_grad():
        keys, values, weights, logits = convs2s_reference(model, src, trg)
        enc = model.encode(src, lens)
        torch.testing.assert_close(enc["conved"], keys, msg="the attention keys z (the encoder's output)")
        torch.testing.assert_close(enc["combined"], values, msg="the values (z + e)·√0.5: keys plus source embedding")
        torch.testing.assert_close(model(src, lens, trg), logits, msg="the teacher-forced logits")
        _, step_logits, attns = stepwise(model, src, lens, trg)
        torch.testing.assert_close(step_logits, logits, msg="the step-by-step logits")
        for t, attn in enumerate(attns):
            for layer, w in enumerate(weights):
                torch.testing.assert_close(attn["cross"][:, layer, 0], w[:, t], msg=f"layer {layer + 1}'s weights, step {t}")


def test_convs2s_attention_query_and_values_by_hand():
    """One decoder block on made-up inputs, its query and values spelled out: a target embedding g, a block input
    whose convolution gives a, the encoder's keys z and source embeddings e of a 3-word source (the last padding)."""
    model = randomise(build_model("convs2s", V, V, **CONV), seed=3)
    block, r = model.dec_blocks[0], math.sqrt(0.5)
    g = torch.Generator().manual_seed(7)
    randn = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    window = randn(1, 2 + 2, 8)                      # [B, T + k - 1, H]: two steps after k - 1 = 2 zeros
    window[:, :2] = 0
    residual, embedded = window[:, 2:], randn(1, 2, 6)
    z, e = randn(1, 3, 6), randn(1, 3, 6)            # keys and source embeddings [B, S, E]
    mask = torch.tensor([[True, True, False]])
    enc = {"conved": z, "combined": (z + e) * r, "mask": mask}
    with torch.no_grad():
        out, weights = block(window, residual, embedded, enc)
        a = glu(conv(window[:, 2:], block.conv, 2, 0))                        # the same causal window
        query = (a @ block.to_emb.weight.T + block.to_emb.bias + embedded) * r
        scores = torch.einsum("bte,bse->bts", query, z)
        expected = torch.exp(scores[..., :2]) / torch.exp(scores[..., :2]).sum(-1, keepdim=True)
        torch.testing.assert_close(weights[..., :2], expected)
        assert (weights[..., 2] == 0).all()                                   # padding gets exactly nothing
        context = torch.einsum("bts,bse->bte", expected, ((z + e) * r)[:, :2])
        torch.testing.assert_close(out, ((a + context @ block.from_emb.weight.T + block.from_emb.bias) * r + residual) * r)


# ---------------------------------------------------------------------------- the Transformer (Vaswani et al. 2017)

TRANSFORMER = dict(d_model=8, heads=2, ff_dim=12, encoder_layers=2, decoder_layers=2, dropout=0.0, attention_dropout=0.0)


def layer_norm(x, module):
    """LayerNorm: (x - mean) / sqrt(var + eps) * gain + bias over the last dimension (biased variance)."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + module.eps) * module.weight + module.bias


def attention(mha, queries, memory, allowed):
    """MultiHead(Q, K, V) = [head_1; ...; head_h] W_O, head_j = softmax(Q_j K_j^T / sqrt(d_k)) V_j.
    queries [B, Lq, d], memory [B, Lk, d], allowed broadcastable to [B, h, Lq, Lk]. Returns out, weights."""
    b, lq, d = queries.shape
    h, d_k = mha.heads, d // mha.heads
    split = lambda x: x.reshape(b, x.size(1), h, d_k).permute(0, 2, 1, 3)  # noqa: E731  [B, h, L, d_k]
    q, k, v = split(linear(queries, mha.q_proj)), split(linear(memory, mha.k_proj)), split(linear(memory, mha.v_proj))
    w = softmax_over(q @ k.transpose(-1, -2) / math.sqrt(d_k), allowed)      # [B, h, Lq, Lk]
    heads = (w @ v).permute(0, 2, 1, 3).reshape(b, lq, d)                     # concatenated
    return linear(heads, mha.out_proj), w


def feed_forward(ff, x):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2."""
    return linear(torch.relu(linear(x, ff[0])), ff[3])


def sublayer(residual, x, f, norm_first):
    """pre-LN: x + f(LN(x)); post-LN (the paper's): LN(x + f(x))."""
    if norm_first:
        out, w = f(layer_norm(x, residual.norm))
        return x + out, w
    out, w = f(x)
    return layer_norm(x + out, residual.norm), w


def positions(length, d):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""
    pe = torch.zeros(length, d, dtype=torch.float64)
    for pos in range(length):
        for i in range(0, d, 2):
            pe[pos, i] = math.sin(pos / 10000 ** (i / d))
            pe[pos, i + 1] = math.cos(pos / 10000 ** (i / d))
    return pe


def transformer_reference(m, src, trg_in):
    """Encoder and decoder as section 3.1 of the paper (or pre-LN with a final LayerNorm when norm_first).
    Returns the encoder self-attention [B, L, h, S, S], decoder self- [B, L, h, T, T] and cross-attention
    [B, L, h, T, S] weights, and the logits [B, T, V]."""
    c, d = m.config, m.config.d_model
    pre = c.norm_first
    S, T = src.size(1), trg_in.size(1)
    real = (src != PAD_IDX)[:, None, None, :]                                 # [B, 1, 1, S]
    x = m.src_embedding.weight[src] * math.sqrt(d) + positions(S, d)          # [B, S, d]
    enc_w = []
    for layer in m.encoder_layers:
        x, w = sublayer(layer.res_attn, x, lambda h, layer=layer: attention(layer.self_attn, h, h, real), pre)
        x, _ = sublayer(layer.res_ff, x, lambda h, layer=layer: (feed_forward(layer.ff, h), None), pre)
        enc_w.append(w)
    memory = layer_norm(x, m.encoder_norm) if pre else x
    causal = torch.ones(T, T, dtype=torch.bool).tril()                        # position t sees 0..t
    y = m.trg_embedding.weight[trg_in] * math.sqrt(d) + positions(T, d)
    self_w, cross_w = [], []
    for layer in m.decoder_layers:
        y, w1 = sublayer(layer.res_self, y, lambda h, layer=layer: attention(layer.self_attn, h, h, causal), pre)
        y, w2 = sublayer(layer.res_cross, y, lambda h, layer=layer: attention(layer.cross_attn, h, memory, real), pre)
        y, _ = sublayer(layer.res_ff, y, lambda h, layer=layer: (feed_forward(layer.ff, h), None), pre)
        self_w.append(w1)
        cross_w.append(w2)
    out = layer_norm(y, m.decoder_norm) if pre else y
    logits = out @ m.trg_embedding.weight.T + m.output.bias                   # tied output layer
    return torch.stack(enc_w, 1), torch.stack(self_w, 1), torch.stack(cross_w, 1), logits


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_transformer_matches_the_papers_equations(norm_first):
    model = randomise(build_model("transformer", V, V, **TRANSFORMER, norm_first=norm_first))
    assert isinstance(model.encoder_norm, nn.LayerNorm) == norm_first    # the final LayerNorm: pre-LN only
    src, lens, trg = batch()
    with torch.no_grad():
        enc_w, self_w, cross_w, logits = transformer_reference(model, src, trg)
        torch.testing.assert_close(model(src, lens, trg), logits, msg="the teacher-forced logits")
        enc, step_logits, attns = stepwise(model, src, lens, trg)
        torch.testing.assert_close(enc["encoder_self"], enc_w, msg="the encoder's self-attention")
        torch.testing.assert_close(step_logits, logits, msg="the step-by-step logits")
        for t, attn in enumerate(attns):
            torch.testing.assert_close(attn["cross"], cross_w[:, :, :, t], msg=f"cross-attention at step {t}")
            torch.testing.assert_close(attn["decoder_self"], self_w[:, :, :, t, :t + 1], msg=f"self-attention at step {t}")


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre-LN", "post-LN"])
def test_one_transformer_sublayer_by_hand(norm_first):
    """The residual wrapper alone on a 2-word input of width 4, with a sub-layer f(x) = 2x + 1: pre-LN gives
    x + f(LN(x)), post-LN LN(x + f(x)); LN with gain (1, 2, 3, 4) and bias 0.5 so a missing or misplaced
    norm shows."""
    from seq2seq.models.transformer import Residual

    res = Residual(4, 0.0, norm_first).eval()
    with torch.no_grad():
        res.norm.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        res.norm.bias.fill_(0.5)
    x = torch.tensor([[[1.0, 2.0, 4.0, 9.0], [0.0, -1.0, 3.0, 2.0]]])
    f = lambda h: (2 * h + 1, None)  # noqa: E731

    def ln(v):   # by hand: mean, biased variance, eps 1e-5
        mean = v.mean(-1, keepdim=True)
        return (v - mean) / torch.sqrt(((v - mean) ** 2).mean(-1, keepdim=True) + 1e-5) * torch.tensor([1.0, 2, 3, 4]) + 0.5

    out, _ = res(x, f)
    expected = x + (2 * ln(x) + 1) if norm_first else ln(x + 2 * x + 1)
    torch.testing.assert_close(out, expected)
    # the first row worked out: mean 4, deviations (-3, -2, 0, 5), variance 9.5
    z = torch.tensor([-3.0, -2.0, 0.0, 5.0]) / math.sqrt(9.5 + 1e-5)
    if norm_first:
        torch.testing.assert_close(out[0, 0], x[0, 0] + 2 * (z * torch.tensor([1.0, 2, 3, 4]) + 0.5) + 1)
    else:                       # x + 2x + 1 = 3x + 1: the same deviations, times 3
        torch.testing.assert_close(out[0, 0], z * torch.tensor([1.0, 2, 3, 4]) + 0.5, atol=1e-5, rtol=1e-5)


def test_transformer_attention_by_hand():
    """Scaled dot-product attention with identity projections, one head of width 2, two keys: the weights are
    softmax((q·k_1, q·k_2) / √2), the output their mix of the values."""
    from seq2seq.models.transformer import MultiHeadAttention

    mha = MultiHeadAttention(2, 1, 0.0).eval()
    with torch.no_grad():
        for proj in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
            proj.weight.copy_(torch.eye(2))
            proj.bias.zero_()
    q = torch.tensor([[[1.0, 2.0]]])
    kv = torch.tensor([[[3.0, 0.0], [0.0, 1.0]]])
    out, w = mha(q, kv)
    s1, s2 = 3 / math.sqrt(2), 2 / math.sqrt(2)                             # q·k_1 = 3, q·k_2 = 2
    a1 = math.exp(s1) / (math.exp(s1) + math.exp(s2))
    torch.testing.assert_close(w[0, 0, 0], torch.tensor([a1, 1 - a1]))
    torch.testing.assert_close(out[0, 0], torch.tensor([3 * a1, 1 - a1]))


# ---------------------------------------------------------------------------- source or prefix?


class Scripted(Seq2Seq):
    """A model whose output at every step is a function of the source words only (``reads="source"``: the
    sum of their embeddings) or of the previous output word only (``reads="prefix"``); the other side is
    read and multiplied by 0, so gradients reach it and are exactly zero. ``reads="both"``: the sum of the two."""

    def __init__(self, reads: str, dim: int = 4):
        super().__init__(None, V, V)
        self.reads = reads
        self.src_embedding = nn.Embedding(V, dim, padding_idx=PAD_IDX)
        self.trg_embedding = nn.Embedding(V, dim, padding_idx=PAD_IDX)
        self.out = nn.Linear(dim, V)
        randomise(self, seed=11, double=False)   # attribution runs in float32
        with torch.no_grad():
            self.src_embedding.weight.mul_(4)          # large enough that log-probabilities move
            self.trg_embedding.weight.mul_(4)

    def encode(self, src, src_lens):
        return {"summary": self.src_embedding(src).sum(dim=1)}               # [B, dim]

    def init_state(self, enc):
        return {}

    def decoder_step(self, prev, state, enc):
        previous = self.trg_embedding(prev)                                  # [B, dim]
        if self.reads == "source":
            features = torch.tanh(enc["summary"]) + 0 * previous
        elif self.reads == "prefix":
            features = torch.tanh(previous) + 0 * enc["summary"]
        else:
            features = torch.tanh(enc["summary"] + previous)
        return features, state, {}

    def logits(self, features):
        return self.out(features)


@pytest.mark.parametrize("reads, share", [("source", 1.0), ("prefix", 0.0)])
def test_source_or_prefix_share_on_scripted_models(reads, share):
    model = Scripted(reads).eval()
    src_ids, trg_ids = [5, 9, 12, 7], [6, 11, 8, 13, EOS_IDX]
    result = source_and_prefix(model, src_ids, trg_ids)
    assert result.source_share.shape == (len(trg_ids),)
    torch.testing.assert_close(result.source_share, torch.full((len(trg_ids),), share), atol=1e-3, rtol=0)
    torch.testing.assert_close(result.source_share + result.prefix_share, torch.ones(len(trg_ids)))
    silent = result.prefix if reads == "source" else result.source
    assert silent.abs().max() < 1e-6
    # what it did read carries the whole log-probability change (completeness), not a fraction of it
    assert (result.completeness_gap < 0.02).all(), result.completeness_gap
    if reads == "prefix":                # only the word just written matters: the earlier prefix gets nothing
        prefix = result.prefix
        for t in range(len(trg_ids)):
            assert prefix[t, t].abs() > 1e-3 and (t == 0 or prefix[t, :t].abs().max() < 1e-6)


def test_source_or_prefix_share_is_the_share_of_absolute_attribution():
    """A model reading both: the share is sum |source| / (sum |source| + sum |prefix|) of its own maps (absolute
    values: positive and negative attributions both count), strictly between 0 and 1, and the two shares sum to 1."""
    model = Scripted("both").eval()
    src_ids, trg_ids = [5, 9, 12, 7], [6, 11, 8, 13, EOS_IDX]
    result = source_and_prefix(model, src_ids, trg_ids)
    on_source, on_prefix = result.source.abs().sum(-1), result.prefix.abs().sum(-1)
    torch.testing.assert_close(result.source_share, on_source / (on_source + on_prefix))
    torch.testing.assert_close(result.prefix_share, 1 - result.source_share)
    assert ((result.source_share > 0.01) & (result.source_share < 0.999)).all(), result.source_share
    assert (result.source < 0).any() or (result.prefix < 0).any()     # signed maps: the absolute values matter
    assert (result.completeness_gap < 0.02).all(), result.completeness_gap
