"""LSTM encoder-decoder (Sutskever et al. 2014, "Sequence to Sequence Learning with Neural Networks").

A multi-layer LSTM reads the source (reversed, which the paper found eases optimisation by
putting the first source words near the first target words); its final hidden and cell states,
one per layer, are the only thing the decoder knows of the source. A second multi-layer LSTM
starts from that state and predicts the target word by word. No attention: every source
sentence is squeezed into one fixed-size state. The forget gates start with a bias of 1
(Jozefowicz et al. 2015), so early in training the state carries the source to the decoder
instead of forgetting it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .base import Difference, Seq2Seq, TiedOutput, embedding, register, trained_here
from .rnn import layers_first, open_forget_gates, reverse_padded, run_packed


@dataclass
class LSTMConfig:
    emb_dim: int = 256
    hidden_dim: int = 384
    layers: int = 2
    dropout: float = 0.1
    reverse_source: bool = True


@register("lstm")
class LSTMSeq2Seq(Seq2Seq):
    paper = "Sutskever et al. 2014"
    paper_title = "Sequence to Sequence Learning with Neural Networks"
    Config = LSTMConfig
    paper_differences = (
        Difference("size", "4 layers of 1,000 cells, 1,000-dimensional embeddings; 160k source and 80k target words",
                   "2 layers of 384 cells, 256-dimensional embeddings; Multi30k's words seen at least twice "
                   "(7,851 German, 5,892 English)"),
        Difference("output layer", "a softmax over 80k words with its own weights",
                   "a linear map to the embedding size, then the target embedding transposed (tied, Press & Wolf 2017)"),
        Difference("initialisation", "every parameter uniform in [-0.08, 0.08]",
                   "PyTorch's defaults, embeddings N(0, 1/d), forget-gate biases 1 (Jozefowicz et al. 2015)"),
        Difference("dropout", "none", "0.1 on the embeddings, between the layers and before the output layer"),
        Difference("training", "SGD, learning rate 0.7 halved every half epoch after 5 epochs, 7.5 epochs, batches of "
                   "128, gradient norm rescaled to at most 5", trained_here()),
    )

    def __init__(self, config: LSTMConfig, src_vocab_size: int, trg_vocab_size: int):
        super().__init__(config, src_vocab_size, trg_vocab_size)
        c = config
        self.src_embedding = embedding(src_vocab_size, c.emb_dim)
        self.trg_embedding = embedding(trg_vocab_size, c.emb_dim)
        inner = c.dropout if c.layers > 1 else 0.0
        self.encoder = nn.LSTM(c.emb_dim, c.hidden_dim, c.layers, batch_first=True, dropout=inner)
        self.decoder = nn.LSTM(c.emb_dim, c.hidden_dim, c.layers, batch_first=True, dropout=inner)
        open_forget_gates(self.encoder)
        open_forget_gates(self.decoder)
        self.dropout = nn.Dropout(c.dropout)
        self.output = TiedOutput(c.hidden_dim, c.emb_dim, trg_vocab_size, c.dropout)

    def encode(self, src, src_lens):
        if self.config.reverse_source:
            src = reverse_padded(src, src_lens)
        _, (h, c) = run_packed(self.encoder, self.dropout(self.src_embedding(src)), src_lens)
        return {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}   # [B, layers, H] each

    def init_state(self, enc):
        return {"h": enc["h"], "c": enc["c"]}

    @property
    def reverses_source(self):
        return self.config.reverse_source

    def decoder_step(self, prev, state, enc):
        x = self.dropout(self.trg_embedding(prev))[:, None]      # [B, 1, E]
        out, (h, c) = self.decoder(x, (layers_first(state["h"]), layers_first(state["c"])))
        return out[:, 0], {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}, {}   # features [B, H]

    def logits(self, features):
        return self.output(features, self.trg_embedding.weight)

    def forward(self, src, src_lens, trg_in):
        enc = self.encode(src, src_lens)
        out, _ = self.decoder(self.dropout(self.trg_embedding(trg_in)), (layers_first(enc["h"]), layers_first(enc["c"])))
        return self.logits(out)                                  # the whole target in one pass
