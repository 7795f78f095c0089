"""GRU encoder-decoder (Cho et al. 2014, "Learning Phrase Representations using RNN
Encoder-Decoder for Statistical Machine Translation").

A GRU reads the source; its last hidden state is the context vector ``c``. The decoder GRU
starts from ``tanh(W c)`` and, unlike Sutskever et al., sees ``c`` again at every step (as
part of its input) and when predicting each word (the output layer reads the decoder state,
the previous word and ``c``), so it does not have to carry the source in its state alone.
No attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Difference, Seq2Seq, TiedOutput, embedding, register, trained_here
from .rnn import run_packed


@dataclass
class GRUConfig:
    emb_dim: int = 256
    hidden_dim: int = 512
    dropout: float = 0.2


@register("gru")
class GRUSeq2Seq(Seq2Seq):
    paper = "Cho et al. 2014"
    paper_title = "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation"
    Config = GRUConfig
    paper_differences = (
        Difference("use", "scores phrase pairs for a phrase-based system (Moses)",
                   "translates whole sentences on its own (greedy or beam search)"),
        Difference("summary c", "c = tanh(V h_N), a learned map of the last encoder state",
                   "c = h_N, the last encoder state itself (the decoder's s_0 = tanh(W c) as in the paper)"),
        Difference("reset gate", "applied before the recurrent matrix: tanh(W x + U (r ⊙ h))",
                   "PyTorch's (cuDNN's) GRU, applied after it: tanh(W x + r ⊙ (U h + b))"),
        Difference("output layer", "a maxout layer (500 units, each the max of 2) over [s_t; y_{t-1}; c], then a "
                   "softmax with its own weights", "no maxout: a linear map of [s_t; y_{t-1}; c] to the embedding "
                   "size, then the target embedding transposed (tied)"),
        Difference("size", "1,000 hidden units, 100-dimensional embeddings, 15k words a side",
                   "512 hidden units, 256-dimensional embeddings"),
        Difference("training", "Adadelta (ε 1e-6, ρ 0.95), batches of 64 phrase pairs", trained_here()),
    )

    def __init__(self, config: GRUConfig, src_vocab_size: int, trg_vocab_size: int):
        super().__init__(config, src_vocab_size, trg_vocab_size)
        c = config
        self.src_embedding = embedding(src_vocab_size, c.emb_dim)
        self.trg_embedding = embedding(trg_vocab_size, c.emb_dim)
        self.encoder = nn.GRU(c.emb_dim, c.hidden_dim, batch_first=True)
        self.init_hidden = nn.Linear(c.hidden_dim, c.hidden_dim)
        self.decoder = nn.GRU(c.emb_dim + c.hidden_dim, c.hidden_dim, batch_first=True)
        self.dropout = nn.Dropout(c.dropout)
        # output layer reads [decoder state; previous word; context]
        self.output = TiedOutput(2 * c.hidden_dim + c.emb_dim, c.emb_dim, trg_vocab_size, c.dropout)

    def encode(self, src, src_lens):
        _, h = run_packed(self.encoder, self.dropout(self.src_embedding(src)), src_lens)
        return {"context": h[-1]}                                  # [B, H]

    def init_state(self, enc):
        return {"h": torch.tanh(self.init_hidden(enc["context"]))}  # [B, H]

    def _decode(self, emb, h0, context):
        """emb [B, T, E] -> the output layer's features [B, T, 2H + E] and the final state [B, H]."""
        ctx = context[:, None].expand(-1, emb.size(1), -1)
        out, h = self.decoder(torch.cat([emb, ctx], dim=-1), h0[None])
        return torch.cat([out, emb, ctx], dim=-1), h[0]

    def decoder_step(self, prev, state, enc):
        emb = self.dropout(self.trg_embedding(prev))[:, None]       # [B, 1, E]
        features, h = self._decode(emb, state["h"], enc["context"])
        return features[:, 0], {"h": h}, {}

    def logits(self, features):
        return self.output(features, self.trg_embedding.weight)

    def forward(self, src, src_lens, trg_in):
        enc = self.encode(src, src_lens)
        features, _ = self._decode(self.dropout(self.trg_embedding(trg_in)), self.init_state(enc)["h"], enc["context"])
        return self.logits(features)                                # the whole target in one pass
