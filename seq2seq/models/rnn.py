"""Pieces the recurrent models share: packed encoding of padded batches, source reversal, LSTM gate init."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def run_packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor):
    """Run ``rnn`` (batch_first) over padded ``x`` [B, S, D] so padding never enters the
    recurrence. Returns outputs [B, S, H*dirs] (zeros at padding) and the final state(s)."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, final = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out, final


def reverse_padded(src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``length`` tokens, leaving padding at the end (Sutskever et al. 2014)."""
    positions = torch.arange(src.size(1), device=src.device)[None]         # [1, S]
    index = (lengths[:, None] - 1 - positions).clamp(min=0)                  # [B, S]
    index = torch.where(positions < lengths[:, None], index, positions)
    return src.gather(1, index)


def layers_first(state: torch.Tensor) -> torch.Tensor:
    """[B, layers, H] (how states are kept, batch first) -> [layers, B, H] (what nn.RNN takes)."""
    return state.transpose(0, 1).contiguous()


def open_forget_gates(lstm: nn.LSTM, bias: float = 1.0) -> None:
    """Start ``lstm``'s forget-gate biases at ``bias`` (Jozefowicz et al. 2015): early in training
    the cell then keeps what it has read instead of halving it at every step."""
    with torch.no_grad():
        for name, b in lstm.named_parameters():
            if name.startswith("bias_ih"):        # gate blocks in the order input, forget, cell, output
                b[lstm.hidden_size: 2 * lstm.hidden_size].fill_(bias)
