"""Attention RNN (Bahdanau et al. 2015, "Neural Machine Translation by Jointly Learning to Align and Translate").

A bidirectional GRU reads the source; each source word is represented by its forward and
backward states concatenated, ``h_i = [h_fwd_i; h_bwd_i]``. Before each output word the decoder
scores every ``h_i`` against its previous state ``s_{t-1}`` with additive attention,
``e_ti = v^T tanh(W s_{t-1} + U h_i)``, softmaxes over the real source words, and feeds the
context ``c_t = sum_i a_ti h_i`` with the previous word into its GRU. The word is predicted
from ``[s_t; c_t; y_{t-1}]``. Padded sources are packed (padding never enters the encoder)
and masked (it never receives attention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention import Attention
from .base import Difference, Seq2Seq, TiedOutput, embedding, register, source_mask, trained_here
from .rnn import run_packed


@dataclass
class BahdanauConfig:
    emb_dim: int = 256
    encoder_dim: int = 256   # per direction
    decoder_dim: int = 512
    attention_dim: int = 256
    dropout: float = 0.25


@register("bahdanau")
class BahdanauSeq2Seq(Seq2Seq):
    paper = "Bahdanau et al. 2015"
    paper_title = "Neural Machine Translation by Jointly Learning to Align and Translate"
    Config = BahdanauConfig
    paper_differences = (
        Difference("initial state s_0", "tanh(W_s h←_1), the backward encoder's state only (appendix A.2.2)",
                   "tanh(W [h→_S; h←_1]), the final states of both directions"),
        Difference("output layer", "a maxout layer (500 units, each the max of 2) over the decoder state, the previous "
                   "word and the context, then a softmax with its own weights", "no maxout: a linear map of "
                   "[s_t; c_t; y_{t-1}] to the embedding size, then the target embedding transposed (tied)"),
        Difference("reset gate", "applied before the recurrent matrix: tanh(W x + U (r ⊙ s))",
                   "PyTorch's (cuDNN's) GRU, applied after it: tanh(W x + r ⊙ (U s + b))"),
        Difference("size", "620-dimensional embeddings, 1,000 units per encoder direction and in the decoder, "
                   "1,000-unit alignment model; 30k words a side",
                   "256-dimensional embeddings, 256 units per direction, a 512-unit decoder, 256-unit attention"),
        Difference("initialisation", "orthogonal recurrent matrices; the alignment model's W_a, U_a "
                   "N(0, 0.001²), its v_a and all biases 0; N(0, 0.01²) elsewhere",
                   "PyTorch's defaults; embeddings N(0, 1/d)"),
        Difference("training", "Adadelta (ε 1e-6, ρ 0.95), batches of 80 sentences, gradient norm at most 1, "
                   "about 5 days", trained_here()),
    )
    attention_kinds = ("cross",)

    def __init__(self, config: BahdanauConfig, src_vocab_size: int, trg_vocab_size: int):
        super().__init__(config, src_vocab_size, trg_vocab_size)
        c = config
        self.src_embedding = embedding(src_vocab_size, c.emb_dim)
        self.trg_embedding = embedding(trg_vocab_size, c.emb_dim)
        self.encoder = nn.GRU(c.emb_dim, c.encoder_dim, batch_first=True, bidirectional=True)
        self.init_hidden = nn.Linear(2 * c.encoder_dim, c.decoder_dim)
        self.attention = Attention("concat", c.decoder_dim, 2 * c.encoder_dim, c.attention_dim)
        self.decoder = nn.GRUCell(c.emb_dim + 2 * c.encoder_dim, c.decoder_dim)
        self.dropout = nn.Dropout(c.dropout)
        self.output = TiedOutput(c.decoder_dim + 2 * c.encoder_dim + c.emb_dim, c.emb_dim, trg_vocab_size, c.dropout)

    def encode(self, src, src_lens):
        keys, h = run_packed(self.encoder, self.dropout(self.src_embedding(src)), src_lens)  # [B, S, 2E], [2, B, E]
        s0 = torch.tanh(self.init_hidden(torch.cat([h[0], h[1]], dim=-1)))                   # [B, D]
        return {"keys": keys, "projected": self.attention.precompute(keys), "mask": source_mask(src), "s0": s0}

    def value_norms(self, enc):
        """[B, 1, 1, S]: ||h_j||, the encoder state the context sums (c_t = sum_j a_tj h_j)."""
        return enc["keys"].norm(dim=-1)[:, None, None]

    def init_state(self, enc):
        return {"s": enc["s0"]}

    def decoder_step(self, prev, state, enc):
        emb = self.dropout(self.trg_embedding(prev))                                # [B, E]
        context, weights = self.attention(state["s"], enc["keys"], enc["projected"], enc["mask"])  # [B, 2E], [B, S]
        s = self.decoder(torch.cat([emb, context], dim=-1), state["s"])              # [B, D]
        return torch.cat([s, context, emb], dim=-1), {"s": s}, {"cross": weights[:, None, None]}  # [B, 1, 1, S]

    def logits(self, features):
        return self.output(features, self.trg_embedding.weight)
