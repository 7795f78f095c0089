"""The models: the interface every architecture implements (``base``), the registry from name to
class, the attention family (``attention``), the pieces the recurrent models share (``rnn``) and the
six architectures, one file each. Importing this package fills the registry. ``huggingface`` adapts any
``transformers`` translation model to the same interface; it is imported only when such a model is loaded."""

from . import bahdanau, convs2s, gru, lstm, luong, transformer  # noqa: F401  (fill the registry)
from .base import ARCHITECTURES, Seq2Seq, build_model, index_batch, model_hparams, register

__all__ = ["ARCHITECTURES", "Seq2Seq", "build_model", "index_batch", "model_hparams", "register"]
