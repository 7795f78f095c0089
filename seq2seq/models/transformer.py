"""Transformer (Vaswani et al. 2017, "Attention Is All You Need").

Encoder: N layers of [multi-head self-attention, feed-forward], decoder: N layers of
[masked multi-head self-attention, multi-head cross-attention, feed-forward], each sub-layer
wrapped in a residual connection and layer normalisation. Attention is scaled dot product,
    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V,
split over ``heads`` heads. Positions are sinusoidal, so any length can be encoded.

``norm_first`` puts the layer norm before each sub-layer (Wang et al. 2019), which trains
more stably with short warm-up, and adds a final layer norm after the encoder's and the decoder's
last layers; ``False`` is the paper's post-norm (the preset ``transformer_postln``). The decoder's
input embedding and output projection share weights. ``Transformer.paper_differences`` lists every
way this model departs from the paper.

Decoding is incremental: each decoder layer caches the keys and values of the target
prefix, and the cross-attention keys/values of the source are computed once in ``encode``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..data import PAD_IDX
from .base import Difference, Seq2Seq, TiedOutput, register, register_preset, source_mask, trained_here


@dataclass
class TransformerConfig:
    d_model: int = 256
    heads: int = 8
    ff_dim: int = 512
    encoder_layers: int = 3
    decoder_layers: int = 3
    dropout: float = 0.15
    attention_dropout: float = 0.1
    norm_first: bool = True


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """[length, dim]: PE(pos, 2i) = sin(pos / 10000^(2i/dim)), PE(pos, 2i+1) = cos(...)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = [head_1; ...; head_h] W_O with head_j = Attention(Q W_Q_j, K W_K_j, V W_V_j)."""

    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        assert d_model % heads == 0, "d_model must be divisible by heads"
        self.heads, self.d_k = heads, d_model // heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape  # [B, L, d] -> [B, h, L, d_k]
        return x.view(b, n, self.heads, self.d_k).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))

    def attend(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None):
        """query: [B, Lq, d]; k, v: [B, h, Lk, d_k]; mask broadcastable to [B, h, Lq, Lk] (True = may attend).
        Returns the output [B, Lq, d] and the weights [B, h, Lq, Lk]."""
        q = self.split_heads(self.q_proj(query))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = self.dropout(weights) @ v  # [B, h, Lq, d_k]
        b, _, lq, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, lq, -1)), weights

    def forward(self, query, memory, mask=None):
        return self.attend(query, *self.keys_values(memory), mask)


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ff_dim: int, dropout: float):
        super().__init__(nn.Linear(d_model, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))


class Residual(nn.Module):
    """x + dropout(sublayer(norm(x))) when norm_first, else norm(x + dropout(sublayer(x)))."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool):
        super().__init__()
        self.norm, self.dropout, self.norm_first = nn.LayerNorm(d_model), nn.Dropout(dropout), norm_first

    def forward(self, x, sublayer):
        if self.norm_first:
            out, weights = sublayer(self.norm(x))
            return x + self.dropout(out), weights
        out, weights = sublayer(x)
        return self.norm(x + self.dropout(out)), weights


class EncoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(c.d_model, c.heads, c.attention_dropout)
        self.ff = FeedForward(c.d_model, c.ff_dim, c.dropout)
        self.res_attn = Residual(c.d_model, c.dropout, c.norm_first)
        self.res_ff = Residual(c.d_model, c.dropout, c.norm_first)

    def forward(self, x, mask):  # x: [B, S, d], mask: [B, 1, 1, S]
        x, weights = self.res_attn(x, lambda h: self.self_attn(h, h, mask))
        x, _ = self.res_ff(x, lambda h: (self.ff(h), None))
        return x, weights


class DecoderLayer(nn.Module):
    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(c.d_model, c.heads, c.attention_dropout)
        self.cross_attn = MultiHeadAttention(c.d_model, c.heads, c.attention_dropout)
        self.ff = FeedForward(c.d_model, c.ff_dim, c.dropout)
        self.res_self = Residual(c.d_model, c.dropout, c.norm_first)
        self.res_cross = Residual(c.d_model, c.dropout, c.norm_first)
        self.res_ff = Residual(c.d_model, c.dropout, c.norm_first)

    def forward(self, x, self_kv, self_mask, cross_kv, cross_mask, cache: list | None = None):
        """x: [B, T, d]. ``self_kv(h)`` gives the self-attention keys/values for the normed input h
        (the whole prefix in training; cache + new step when decoding)."""

        def self_attention(h):
            k, v = self_kv(h)
            if cache is not None:
                cache.append((k, v))
            return self.self_attn.attend(h, k, v, self_mask)

        x, self_w = self.res_self(x, self_attention)
        x, cross_w = self.res_cross(x, lambda h: self.cross_attn.attend(h, *cross_kv, cross_mask))
        x, _ = self.res_ff(x, lambda h: (self.ff(h), None))
        return x, self_w, cross_w


@register("transformer")
class Transformer(Seq2Seq):
    paper = "Vaswani et al. 2017"
    paper_title = "Attention Is All You Need"
    Config = TransformerConfig
    paper_differences = (
        Difference("layer norm", "after each sub-layer's residual sum: LayerNorm(x + Sublayer(x)) (post-LN)",
                   "before each sub-layer, x + Sublayer(LayerNorm(x)) (pre-LN, Wang et al. 2019), and a final "
                   "LayerNorm on the encoder's and the decoder's output (norm_first=True); the transformer_postln "
                   "preset is post-LN"),
        Difference("shared weights", "one matrix for the source embedding, the target embedding and the pre-softmax "
                   "layer (a joint BPE vocabulary)", "the target embedding and the output layer only: the word "
                   "vocabularies are separate; the output layer has a bias"),
        Difference("dropout", "0.1 on each sub-layer's output and on the embeddings plus positions",
                   "0.15 there, 0.1 on the attention weights, and 0.15 after the feed-forward ReLU"),
        Difference("size", "base: d_model 512, 6 + 6 layers, 8 heads, d_ff 2048",
                   "d_model 256, 3 + 3 layers, 8 heads, d_ff 512"),
        Difference("training", "Adam (β 0.9, 0.98), learning rate d^-0.5 · min(step^-0.5, step · 4000^-1.5), "
                   "label smoothing 0.1, batches of about 25,000 tokens a side",
                   trained_here(batch_tokens=2500)),
    )
    attention_kinds = ("cross", "decoder_self", "encoder_self")

    def __init__(self, config: TransformerConfig, src_vocab_size: int, trg_vocab_size: int):
        super().__init__(config, src_vocab_size, trg_vocab_size)
        c = config
        self.src_embedding = nn.Embedding(src_vocab_size, c.d_model, padding_idx=PAD_IDX)
        self.trg_embedding = nn.Embedding(trg_vocab_size, c.d_model, padding_idx=PAD_IDX)
        for emb in (self.src_embedding, self.trg_embedding):
            nn.init.normal_(emb.weight, 0, c.d_model ** -0.5)
            nn.init.zeros_(emb.weight[PAD_IDX])
        self.dropout = nn.Dropout(c.dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.encoder_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.decoder_layers))
        self.encoder_norm = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(c.d_model) if c.norm_first else nn.Identity()
        self.output = TiedOutput(c.d_model, c.d_model, trg_vocab_size, dropout=0.0)
        self.register_buffer("positions", sinusoidal_positions(512, c.d_model), persistent=False)

    @property
    def cross_attention_grid(self):
        return self.config.decoder_layers, self.config.heads

    def embed(self, embedding: nn.Embedding, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        length = offset + tokens.size(1)
        if length > self.positions.size(0):  # sinusoids extend to any length
            self.positions = sinusoidal_positions(2 * length, self.config.d_model).to(self.positions)
        x = embedding(tokens) * math.sqrt(self.config.d_model) + self.positions[offset:length]
        return self.dropout(x)

    def encode(self, src, src_lens):
        return self.encode_from_layer(src, src_lens, len(self.encoder_layers))

    def encode_from_layer(self, src, src_lens, layer: int):
        """The encoder's first ``layer`` layers only, then its final norm: what DecoderLens lets the decoder read."""
        if not 1 <= layer <= len(self.encoder_layers):
            raise ValueError(f"encoder layer must be 1..{len(self.encoder_layers)}, not {layer}")
        mask = source_mask(src)                      # [B, S]
        x = self.embed(self.src_embedding, src)      # [B, S, d]
        attn_mask = mask[:, None, None, :]           # [B, 1, 1, S]
        weights = []
        for enc_layer in self.encoder_layers[:layer]:
            x, w = enc_layer(x, attn_mask)
            weights.append(w)
        memory = self.encoder_norm(x)
        # cross-attention keys and values of every decoder layer, computed once: [B, h, S, d_k] each
        cross = [layer.cross_attn.keys_values(memory) for layer in self.decoder_layers]
        return {"memory": memory, "mask": mask, "encoder_self": torch.stack(weights, dim=1),  # [B, L, h, S, S]
                "cross_k": [k for k, _ in cross], "cross_v": [v for _, v in cross]}

    def value_norms(self, enc):
        """[B, L, h, S]: ||v_j^h W_O^h||, head h's value of source position j through its share of the output
        projection (the vector the head adds per unit of weight; Kobayashi et al. 2020, without W_O's bias)."""
        norms = []
        for layer, v in zip(self.decoder_layers, enc["cross_v"]):               # v: [B, h, S, d_k]
            w_o = layer.cross_attn.out_proj.weight.view(self.config.d_model, self.config.heads, -1)  # [d, h, d_k]
            norms.append(torch.einsum("bhsk,dhk->bhsd", v, w_o).norm(dim=-1))   # [B, h, S]
        return torch.stack(norms, dim=1)

    def init_state(self, enc):
        b, h, d_k = enc["memory"].size(0), self.config.heads, self.config.d_model // self.config.heads
        empty = enc["memory"].new_zeros(b, h, 0, d_k)
        layers = len(self.decoder_layers)
        return {"k": [empty] * layers, "v": [empty] * layers}   # the self-attention keys/values so far, per layer

    def decoder_step(self, prev, state, enc):
        t = state["k"][0].size(2)                                    # tokens decoded so far
        x = self.embed(self.trg_embedding, prev[:, None], offset=t)  # [B, 1, d]: only the new position
        cross_mask = enc["mask"][:, None, None, :]
        ks, vs, self_ws, cross_ws = [], [], [], []
        for i, layer in enumerate(self.decoder_layers):
            past_k, past_v = state["k"][i], state["v"][i]

            def self_kv(h, layer=layer, past_k=past_k, past_v=past_v):
                k, v = layer.self_attn.keys_values(h)
                return torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)

            cache = []
            x, self_w, cross_w = layer(x, self_kv, None, (enc["cross_k"][i], enc["cross_v"][i]), cross_mask, cache)
            ks.append(cache[0][0])
            vs.append(cache[0][1])
            self_ws.append(self_w[:, :, 0])    # [B, h, t+1]
            cross_ws.append(cross_w[:, :, 0])  # [B, h, S]
        attn = {"cross": torch.stack(cross_ws, dim=1), "decoder_self": torch.stack(self_ws, dim=1)}
        return x[:, 0], {"k": ks, "v": vs}, attn

    def logits(self, features):
        return self.output(self.decoder_norm(features), self.trg_embedding.weight)

    def forward(self, src, src_lens, trg_in):
        enc = self.encode(src, src_lens)
        x = self.embed(self.trg_embedding, trg_in)
        t = trg_in.size(1)
        causal = torch.ones(t, t, dtype=torch.bool, device=src.device).tril()[None, None]  # [1, 1, T, T]
        cross_mask = enc["mask"][:, None, None, :]
        for i, layer in enumerate(self.decoder_layers):
            x, _, _ = layer(x, layer.self_attn.keys_values, causal, (enc["cross_k"][i], enc["cross_v"][i]), cross_mask)
        return self.logits(x)                                        # the whole target in one pass

    def decoder_layer_features(self, src, src_lens, trg_in):
        """[B, T, d] after each decoder layer; ``logits`` applies the final norm to each, as to the last."""
        enc = self.encode(src, src_lens)
        x = self.embed(self.trg_embedding, trg_in)
        t = trg_in.size(1)
        causal = torch.ones(t, t, dtype=torch.bool, device=src.device).tril()[None, None]
        cross_mask = enc["mask"][:, None, None, :]
        out = []
        for i, layer in enumerate(self.decoder_layers):
            x, _, _ = layer(x, layer.self_attn.keys_values, causal, (enc["cross_k"][i], enc["cross_v"][i]), cross_mask)
            out.append(x)
        return out

    def attention_sublayers(self, src, src_lens, trg_in):
        """Each attention sub-layer's residual input, values through W_O, weights and output (the contract in
        ``base.py``; ALTI+ reads them). The layers run through their own ``Residual`` modules, so the outputs are
        the model's; only the attention's input is kept on the way (what its values are computed from)."""
        d, h = self.config.d_model, self.config.heads

        def laid_open(res, attn, x, keys_values, mask):
            seen = {}

            def sublayer(a):                                      # a: what the attention reads, [B, Lq, d]
                k, v = keys_values(a)
                seen["v"] = v                                     # [B, h, Lk, d_k]
                return attn.attend(a, k, v, mask)

            y, weights = res(x, sublayer)
            w_o = attn.out_proj.weight.view(d, h, -1)             # [d, h, d_k]
            values = torch.einsum("bhsk,dhk->bhsd", seen["v"], w_o)   # [B, h, Lk, d]
            return y, {"residual": x, "values": values, "weights": weights, "bias": attn.out_proj.bias,
                       "norm": None if res.norm_first else res.norm, "output": y}

        out = {"encoder_self": [], "decoder_self": [], "cross": []}
        mask = source_mask(src)[:, None, None, :]                 # [B, 1, 1, S]
        x = self.embed(self.src_embedding, src)                   # [B, S, d]
        for layer in self.encoder_layers:
            x, sub = laid_open(layer.res_attn, layer.self_attn, x, layer.self_attn.keys_values, mask)
            out["encoder_self"].append(sub)
            x, _ = layer.res_ff(x, lambda a, layer=layer: (layer.ff(a), None))
        memory = self.encoder_norm(x)                             # [B, S, d]
        x = self.embed(self.trg_embedding, trg_in)                # [B, T, d]
        t = trg_in.size(1)
        causal = torch.ones(t, t, dtype=torch.bool, device=src.device).tril()[None, None]  # [1, 1, T, T]
        for layer in self.decoder_layers:
            x, sub = laid_open(layer.res_self, layer.self_attn, x, layer.self_attn.keys_values, causal)
            out["decoder_self"].append(sub)
            x, sub = laid_open(layer.res_cross, layer.cross_attn, x,
                               lambda a, layer=layer: layer.cross_attn.keys_values(memory), mask)
            out["cross"].append(sub)
            x, _ = layer.res_ff(x, lambda a, layer=layer: (layer.ff(a), None))
        return out


register_preset("transformer_postln", "transformer", "the Transformer with the paper's post-LN sub-layers, "
                "LayerNorm(x + Sublayer(x)), and no final LayerNorm", norm_first=False)
