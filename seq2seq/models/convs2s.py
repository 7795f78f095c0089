"""Convolutional sequence to sequence (Gehring et al. 2017, "Convolutional Sequence to Sequence Learning").

Words and learned positions are embedded and summed. The encoder is a stack of convolution
blocks: a 1-D convolution to twice the width, a gated linear unit ``GLU(a, b) = a * sigmoid(b)``,
and a residual connection scaled by ``sqrt(0.5)``. Its output (``conved``) are the attention keys;
``combined = (conved + embedding) * sqrt(0.5)`` are the values.

The decoder's blocks are causal (padded with ``kernel_size - 1`` zeros on the left, so a
position never sees later words) and every block has its own attention ("multi-step
attention"): its query is the block's output projected to the embedding size plus the target
embedding, and the attended values are projected back and added to the block's output.

The conditional input (the attended values) is scaled by ``m * sqrt(1/m)``, m the number of real
source words, when ``scale_context`` is set (section 3.4 of the paper, "Normalization Strategy": it
counters the change in variance of a weighted sum). The shipped checkpoint was trained without it,
and its config.json records ``scale_context: false``. ``paper_init`` initialises the weights as
section 3.5 does (:meth:`ConvS2S.init_as_paper`); the preset ``convs2s_paper`` sets both.
``ConvS2S.paper_differences`` lists every way this model departs from the paper.

Decoding is incremental: each decoder block keeps the last ``kernel_size - 1`` inputs of its
convolution, so a step costs one column of each convolution rather than the whole prefix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import (Difference, Seq2Seq, TiedOutput, embedding, masked_softmax, register, register_preset,
                   source_mask, trained_here)

SCALE = math.sqrt(0.5)


@dataclass
class ConvS2SConfig:
    emb_dim: int = 256
    hidden_dim: int = 256
    encoder_layers: int = 5
    decoder_layers: int = 4
    kernel_size: int = 3
    dropout: float = 0.25
    max_positions: int = 256
    scale_context: bool = False   # the paper's m * sqrt(1/m) on the conditional input (section 3.4)
    paper_init: bool = False      # the paper's initialisation (section 3.5) instead of PyTorch's defaults


class DecoderBlock(nn.Module):
    """Causal convolution + GLU, then attention to the source, then the scaled residual."""

    def __init__(self, c: ConvS2SConfig):
        super().__init__()
        self.conv = nn.Conv1d(c.hidden_dim, 2 * c.hidden_dim, c.kernel_size)
        self.to_emb = nn.Linear(c.hidden_dim, c.emb_dim)     # query projection
        self.from_emb = nn.Linear(c.emb_dim, c.hidden_dim)   # attended values back to hidden size
        self.dropout = nn.Dropout(c.dropout)
        self.scale_context = c.scale_context

    def forward(self, window, residual, embedded, enc):
        """window: [B, T + k - 1, H] the causal input; residual: [B, T, H]; embedded: [B, T, E].
        Returns the block's output [B, T, H] and its attention [B, T, S]."""
        conved = F.glu(self.conv(self.dropout(window).transpose(1, 2)), dim=1).transpose(1, 2)  # [B, T, H]
        query = (self.to_emb(conved) + embedded) * SCALE                                     # [B, T, E]
        energy = query @ enc["conved"].transpose(1, 2)                                        # [B, T, S]
        weights = masked_softmax(energy, enc["mask"][:, None, :])
        context = weights @ enc["combined"]                                                   # [B, T, E]
        if self.scale_context:
            m = enc["mask"].sum(dim=1).to(context.dtype)[:, None, None]                         # [B, 1, 1]
            context = context * (m * torch.rsqrt(m))
        attended = self.from_emb(context)                                                     # [B, T, H]
        conved = (conved + attended) * SCALE
        return (conved + residual) * SCALE, weights


@register("convs2s")
class ConvS2S(Seq2Seq):
    paper = "Gehring et al. 2017"
    paper_title = "Convolutional Sequence to Sequence Learning"
    Config = ConvS2SConfig
    paper_differences = (
        Difference("conditional input", "the attended values scaled by m·√(1/m), m the source length (§3.4)",
                   "not scaled (scale_context=False, as the shipped checkpoint was trained); the convs2s_paper "
                   "preset scales them"),
        Difference("initialisation", "embeddings N(0, 0.1); a layer feeding a GLU N(0, √(4p/n)), any other "
                   "N(0, √(p/n)), n its inputs, p the share dropout keeps; biases 0 (§3.5)",
                   "PyTorch's defaults (uniform ±1/√n), embeddings N(0, 1/d) (paper_init=False); the convs2s_paper "
                   "preset initialises as the paper"),
        Difference("weight normalisation", "on every layer but the embeddings (Salimans & Kingma 2016)", "none"),
        Difference("encoder gradients", "scaled by the number of attention mechanisms, the decoder's layers (§3.4)",
                   "not scaled"),
        Difference("√0.5 scaling", "the sum of a residual block's input and output (§3.4)",
                   "that, and as fairseq's code does: the attention query (W_d h + b_d + g), the values (z + e), "
                   "and a block's output plus its projected context"),
        Difference("output layer", "a linear map to the embedding size, then a softmax with its own weights",
                   "the same map, then the target embedding transposed (tied)"),
        Difference("size", "512 hidden units and embeddings, 15 to 20 layers a side on WMT",
                   "256 hidden units and embeddings, 5 encoder and 4 decoder layers, kernel width 3"),
        Difference("training", "Nesterov momentum 0.99, learning rate 0.25 cut tenfold when validation perplexity "
                   "stalls, gradient norm at most 0.1, batches of 64 sentences", trained_here(clip=0.5)),
    )
    attention_kinds = ("cross",)

    def __init__(self, config: ConvS2SConfig, src_vocab_size: int, trg_vocab_size: int):
        super().__init__(config, src_vocab_size, trg_vocab_size)
        c = config
        if c.kernel_size % 2 == 0:
            raise ValueError("convs2s kernel_size must be odd")
        self.src_embedding = embedding(src_vocab_size, c.emb_dim)
        self.trg_embedding = embedding(trg_vocab_size, c.emb_dim)
        self.src_positions = nn.Embedding(c.max_positions, c.emb_dim)
        self.trg_positions = nn.Embedding(c.max_positions, c.emb_dim)
        for positions in (self.src_positions, self.trg_positions):
            nn.init.normal_(positions.weight, 0.0, c.emb_dim ** -0.5)   # on the scale of the word embeddings
        self.enc_in = nn.Linear(c.emb_dim, c.hidden_dim)
        self.enc_convs = nn.ModuleList(nn.Conv1d(c.hidden_dim, 2 * c.hidden_dim, c.kernel_size, padding=c.kernel_size // 2)
                                       for _ in range(c.encoder_layers))
        self.enc_out = nn.Linear(c.hidden_dim, c.emb_dim)
        self.dec_in = nn.Linear(c.emb_dim, c.hidden_dim)
        self.dec_blocks = nn.ModuleList(DecoderBlock(c) for _ in range(c.decoder_layers))
        self.output = TiedOutput(c.hidden_dim, c.emb_dim, trg_vocab_size, c.dropout)
        self.dropout = nn.Dropout(c.dropout)
        if c.paper_init:
            self.init_as_paper()

    def init_as_paper(self):
        """Gehring et al. 2017, section 3.5: embeddings (words and positions) N(0, 0.1); a layer whose output
        feeds a GLU (the convolutions) N(0, sqrt(4p/n)), every other layer N(0, sqrt(p/n)), with n its
        inputs per output and p the probability that dropout keeps its input (1 where none is applied);
        biases 0. The tied output layer reads the target embedding, initialised as an embedding."""
        c, keep = self.config, 1.0 - self.config.dropout
        with torch.no_grad():
            for emb in (self.src_embedding, self.trg_embedding, self.src_positions, self.trg_positions):
                nn.init.normal_(emb.weight, 0.0, 0.1)
            for emb in (self.src_embedding, self.trg_embedding):
                emb.weight[emb.padding_idx].zero_()

            def init(layer, fan_in, gain):
                nn.init.normal_(layer.weight, 0.0, math.sqrt(gain / fan_in))
                nn.init.zeros_(layer.bias)

            init(self.enc_in, c.emb_dim, keep)                          # reads the (dropped-out) embeddings
            init(self.dec_in, c.emb_dim, keep)
            for conv in [*self.enc_convs, *(block.conv for block in self.dec_blocks)]:
                init(conv, c.kernel_size * c.hidden_dim, 4 * keep)      # feeds a GLU; its input is dropped out
            init(self.enc_out, c.hidden_dim, 1.0)
            for block in self.dec_blocks:
                init(block.to_emb, c.hidden_dim, 1.0)
                init(block.from_emb, c.emb_dim, 1.0)
            if isinstance(self.output.proj, nn.Linear):
                init(self.output.proj, c.hidden_dim, 1.0)

    @property
    def max_source_positions(self):
        return self.config.max_positions

    @property
    def max_target_positions(self):
        return self.config.max_positions

    @property
    def cross_attention_grid(self):
        return self.config.decoder_layers, 1            # every decoder layer attends, with one head

    def encode(self, src, src_lens):
        mask = source_mask(src)                                                  # [B, S]
        positions = torch.arange(src.size(1), device=src.device)[None]
        embedded = self.dropout(self.src_embedding(src) + self.src_positions(positions))  # [B, S, E]
        h = self.enc_in(embedded)                                                # [B, S, H]
        for conv in self.enc_convs:
            h_in = self.dropout(h.masked_fill(~mask[..., None], 0.0))           # padding contributes nothing
            h = (F.glu(conv(h_in.transpose(1, 2)), dim=1).transpose(1, 2) + h) * SCALE
        conved = self.enc_out(h).masked_fill(~mask[..., None], 0.0)             # keys   [B, S, E]
        combined = (conved + embedded) * SCALE                                   # values [B, S, E]
        return {"conved": conved, "combined": combined, "mask": mask}

    def value_norms(self, enc):
        """[B, L, 1, S]: ||W_l (z_j + e_j)||, the value each block attends, projected back to its width
        (``from_emb`` without its bias; times m·sqrt(1/m) with ``scale_context``, which scales every column alike)."""
        norms = [(enc["combined"] @ block.from_emb.weight.T).norm(dim=-1) for block in self.dec_blocks]   # [B, S]
        return torch.stack(norms, dim=1)[:, :, None]

    def _embed_target(self, tokens, offset):
        positions = offset + torch.arange(tokens.size(1), device=tokens.device)[None]
        return self.dropout(self.trg_embedding(tokens) + self.trg_positions(positions))

    def init_state(self, enc):
        b, k, hdim = enc["conved"].size(0), self.config.kernel_size, self.config.hidden_dim
        # each block's last k-1 inputs, [B, k-1, H] per layer
        windows = [enc["conved"].new_zeros(b, k - 1, hdim) for _ in self.dec_blocks]
        return {"windows": windows, "pos": torch.zeros(b, dtype=torch.long, device=enc["conved"].device)}

    def decoder_step(self, prev, state, enc):
        embedded = self._embed_target(prev[:, None], state["pos"][:1])           # [B, 1, E] (all rows share a step)
        h = self.dec_in(embedded)
        windows, weights = [], []
        for block, past in zip(self.dec_blocks, state["windows"]):
            window = torch.cat([past, h], dim=1)                                  # [B, k, H]: one new column
            windows.append(window[:, 1:])
            h, w = block(window, h, embedded, enc)
            weights.append(w[:, 0])
        attn = {"cross": torch.stack(weights, dim=1)[:, :, None]}                # [B, L, 1, S]
        return h[:, 0], {"windows": windows, "pos": state["pos"] + 1}, attn

    def logits(self, features):
        return self.output(features, self.trg_embedding.weight)

    def forward(self, src, src_lens, trg_in):
        enc = self.encode(src, src_lens)
        embedded = self._embed_target(trg_in, 0)
        h = self.dec_in(embedded)
        for block in self.dec_blocks:
            window = F.pad(h, (0, 0, self.config.kernel_size - 1, 0))             # causal: k-1 zeros on the left
            h, _ = block(window, h, embedded, enc)
        return self.logits(h)                                                     # the whole target in one pass

    def decoder_layer_features(self, src, src_lens, trg_in):
        """[B, T, H] after each decoder block, as ``logits`` reads the last."""
        enc = self.encode(src, src_lens)
        embedded = self._embed_target(trg_in, 0)
        h, out = self.dec_in(embedded), []
        for block in self.dec_blocks:
            h, _ = block(F.pad(h, (0, 0, self.config.kernel_size - 1, 0)), h, embedded, enc)
            out.append(h)
        return out


register_preset("convs2s_paper", "convs2s", "ConvS2S as the paper scales and initialises it: the conditional input "
                "times m·√(1/m) (§3.4) and the paper's initialisation (§3.5)", scale_context=True, paper_init=True)
