"""The order and the names the project shows its models in: the order of their papers, 2014 to 2017.

The registry (``seq2seq.models.ARCHITECTURES``) is filled in import order, which is no order a reader
follows; the app's cards, menus and tables, the results pages and the model card tell the story the
About tab tells instead: the LSTM and GRU encoder-decoders (2014), attention (Bahdanau, Luong; 2015),
then convolutions and self-attention (ConvS2S, the Transformer; 2017). Any other checkpoint (a second
Transformer, a variant) comes after the six, by its architecture's place, then by name.
"""

from __future__ import annotations

PAPER_ORDER = ("lstm", "gru", "bahdanau", "luong", "convs2s", "transformer")
DISPLAY_NAMES = {"lstm": "LSTM", "gru": "GRU", "bahdanau": "Bahdanau", "luong": "Luong", "convs2s": "ConvS2S",
                 "transformer": "Transformer"}


def paper_rank(name: str, arch: str | None = None) -> tuple:
    """Sort key of a checkpoint called ``name`` of architecture ``arch``: the six in their papers' order, then
    the rest by their architecture's place in it, then by name."""
    if name in PAPER_ORDER:
        return (0, PAPER_ORDER.index(name), "")
    return (1, PAPER_ORDER.index(arch) if arch in PAPER_ORDER else len(PAPER_ORDER), name)


def display_name(name: str, arch: str | None = None) -> str:
    """"LSTM", "Transformer"; another checkpoint keeps its directory name, with its architecture's name:
    "transformer-sp (Transformer)"."""
    if name in DISPLAY_NAMES:
        return DISPLAY_NAMES[name]
    return f"{name} ({DISPLAY_NAMES.get(arch, arch)})" if arch and arch != name else name
