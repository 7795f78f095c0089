"""Classic sequence-to-sequence translation models behind one interface.

    from seq2seq import load_checkpoint
    translator = load_checkpoint("checkpoints/transformer")
    print(translator.translate(["Zwei Hunde spielen im Schnee."], beam_size=5)[0].text)
"""

from .checkpoint import CheckpointError, load_model, save_checkpoint
from .data import DataNotFoundError, Tokenizer, Vocab
from .decoding import beam_search, forced_decode, greedy_search
from .models import ARCHITECTURES, Seq2Seq, build_model
from .translator import Translation, Translator, detokenize, load_checkpoint

__all__ = [
    "ARCHITECTURES", "CheckpointError", "DataNotFoundError", "Seq2Seq", "Tokenizer", "Translation", "Translator",
    "Vocab", "beam_search", "build_model", "detokenize", "forced_decode", "greedy_search", "load_checkpoint",
    "load_model", "save_checkpoint",
]
