"""Global and local attention (Luong et al. 2015, "Effective Approaches to Attention-based
Neural Machine Translation").

An LSTM decoder (stacked when ``layers > 1``) first takes its step, then its top state ``s_t`` scores the encoder
states (``score`` picks the function: dot, general, concat, scaled_dot, cosine, location, ntm; see
``attention.py``); the context ``c_t`` and ``s_t`` make the attentional state
``~h_t = tanh(W_c [c_t; s_t])``, which predicts the word. With input feeding, ``~h_t`` is also
fed into the next step's input, so the model knows where it attended before. ``local=True``
uses local-p attention, a Gaussian window around a predicted source position; ``hard=True``
attends to one source position per step.

The encoder is a bidirectional LSTM (``hidden_dim / 2`` per direction), so the
encoder and decoder states have the same size, as dot and cosine scores need. The forget gates
start with a bias of 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention import Attention
from .base import Difference, Seq2Seq, TiedOutput, embedding, register, source_mask, trained_here
from .rnn import layers_first, open_forget_gates, run_packed


@dataclass
class LuongConfig:
    emb_dim: int = 256
    hidden_dim: int = 448
    layers: int = 1               # one wide layer learns faster on Multi30k's 29k pairs than two narrow ones
    score: str = "general"
    input_feeding: bool = True
    local: bool = False
    window: int = 8               # D of local-p attention
    max_positions: int = 256      # the location score's longest source
    hard: bool = False            # one source position per step (straight-through Gumbel-softmax)
    dropout: float = 0.25


@register("luong")
class LuongSeq2Seq(Seq2Seq):
    paper = "Luong et al. 2015"
    paper_title = "Effective Approaches to Attention-based Neural Machine Translation"
    Config = LuongConfig
    paper_differences = (
        Difference("encoder", "a stacked unidirectional LSTM over the reversed source, whose final states start "
                   "the decoder", "one bidirectional LSTM layer (hidden_dim / 2 per direction); the decoder starts "
                   "from both directions' final states side by side"),
        Difference("size", "4 layers of 1,000 cells, 1,000-dimensional embeddings, 50k words a side",
                   "1 layer of 448 cells, 256-dimensional embeddings"),
        Difference("output layer", "softmax(W_s h̃_t) with its own weights",
                   "a linear map of h̃_t to the embedding size, then the target embedding transposed (tied)"),
        Difference("local-p (local=True)", "p_t = S · σ(v_p^T tanh(W_p h_t)); the window's softmax weights times "
                   "the Gaussian, not renormalised; D = 10", "p_t = (S − 1) · σ(…) with positions from 0; "
                   "renormalised after the Gaussian, so every row sums to 1; D = 8 (window)"),
        Difference("initialisation", "every parameter uniform in [-0.1, 0.1]",
                   "PyTorch's defaults, embeddings N(0, 1/d), forget-gate biases 1 (Jozefowicz et al. 2015)"),
        Difference("training", "SGD, learning rate 1 halved every epoch after epoch 5 (8 with dropout 0.2), 10–12 "
                   "epochs, batches of 128, gradient norm rescaled to at most 5", trained_here() + "; dropout 0.25"),
    )
    attention_kinds = ("cross",)

    def __init__(self, config: LuongConfig, src_vocab_size: int, trg_vocab_size: int):
        super().__init__(config, src_vocab_size, trg_vocab_size)
        c = config
        if c.hidden_dim % 2:
            raise ValueError("luong hidden_dim must be even (half per encoder direction)")
        self.src_embedding = embedding(src_vocab_size, c.emb_dim)
        self.trg_embedding = embedding(trg_vocab_size, c.emb_dim)
        inner = c.dropout if c.layers > 1 else 0.0
        self.encoder = nn.LSTM(c.emb_dim, c.hidden_dim // 2, c.layers, batch_first=True, bidirectional=True, dropout=inner)
        self.decoder = nn.LSTM(c.emb_dim + (c.hidden_dim if c.input_feeding else 0), c.hidden_dim, c.layers,
                               batch_first=True, dropout=inner)
        self.attention = Attention(c.score, c.hidden_dim, c.hidden_dim, max_positions=c.max_positions,
                                   local=c.local, window=c.window, hard=c.hard)
        open_forget_gates(self.encoder)
        open_forget_gates(self.decoder)
        self.combine = nn.Linear(2 * c.hidden_dim, c.hidden_dim)     # W_c
        self.dropout = nn.Dropout(c.dropout)
        self.output = TiedOutput(c.hidden_dim, c.emb_dim, trg_vocab_size, c.dropout)

    @property
    def max_source_positions(self):
        return self.config.max_positions if self.config.score == "location" else None

    def encode(self, src, src_lens):
        keys, (h, c) = run_packed(self.encoder, self.dropout(self.src_embedding(src)), src_lens)  # [B, S, H]
        b = src.size(0)
        # final states [layers*2, B, H/2] -> [B, layers, H]: forward and backward side by side
        h = h.view(self.config.layers, 2, b, -1).permute(2, 0, 1, 3).reshape(b, self.config.layers, -1)
        c = c.view(self.config.layers, 2, b, -1).permute(2, 0, 1, 3).reshape(b, self.config.layers, -1)
        return {"keys": keys, "projected": self.attention.precompute(keys), "mask": source_mask(src), "h": h, "c": c}

    def value_norms(self, enc):
        """[B, 1, 1, S]: ||h_j||, the encoder state the context sums (c_t = sum_j a_tj h_j)."""
        return enc["keys"].norm(dim=-1)[:, None, None]

    def init_state(self, enc):
        feed = enc["h"].new_zeros(enc["h"].size(0), self.config.hidden_dim)
        state = {"h": enc["h"], "c": enc["c"], "feed": feed}
        if self.attention.recurrent:                      # NTM addressing starts from w_0
            state["weights"] = self.attention.initial_weights(enc["mask"])
        return state

    def decoder_step(self, prev, state, enc):
        x = self.dropout(self.trg_embedding(prev))                                      # [B, E]
        if self.config.input_feeding:
            x = torch.cat([x, state["feed"]], dim=-1)
        out, (h, c) = self.decoder(x[:, None], (layers_first(state["h"]), layers_first(state["c"])))
        s = out[:, 0]                                                                   # [B, H] top layer s_t
        context, weights = self.attention(s, enc["keys"], enc["projected"], enc["mask"], state.get("weights"))
        attentional = torch.tanh(self.combine(torch.cat([context, s], dim=-1)))         # ~h_t
        new_state = {"h": h.transpose(0, 1), "c": c.transpose(0, 1), "feed": attentional}
        if self.attention.recurrent:
            new_state["weights"] = weights
        return attentional, new_state, {"cross": weights[:, None, None]}

    def logits(self, features):
        return self.output(features, self.trg_embedding.weight)


# The attention family (the app's Family tab): one model per member, all of one size (about 3.5M
# parameters, dropout 0.2) and trained by one recipe (train.py's RECIPES["family"]), so that only the
# attention differs. ``python train.py --family NAME`` trains one, ``python train.py --family`` all.
FAMILY_SIZE = dict(emb_dim=128, hidden_dim=320, dropout=0.2)
FAMILY: dict[str, dict] = {
    "dot": dict(score="dot"),
    "general": dict(score="general"),
    "concat": dict(score="concat"),
    "scaled_dot": dict(score="scaled_dot"),
    "scaled_dot_ln": dict(score="scaled_dot_ln"),   # scaled_dot on layer-normalised states (attention.py)
    "cosine": dict(score="cosine"),
    "location": dict(score="location"),
    "local_p": dict(score="general", local=True),
    "ntm": dict(score="ntm"),
    "hard": dict(score="general", hard=True),     # the soft twin is "general"
}


def family_hparams(name: str) -> dict:
    """The hyper-parameters of family member ``name`` (on top of LuongConfig's defaults)."""
    if name not in FAMILY:
        raise ValueError(f"unknown family member {name!r}; choose from {', '.join(FAMILY)}")
    return {**FAMILY_SIZE, **FAMILY[name]}

