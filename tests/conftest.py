"""Shared fixtures: small vocabularies and random-weight checkpoints of every architecture,
written through the real ``save_checkpoint`` so tests never depend on the shipped models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from seq2seq import ARCHITECTURES, Vocab, build_model, save_checkpoint

torch.set_num_threads(1)
DATA_DIR = Path(os.environ.get("SEQ2SEQ_DATA_DIR", Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "multi30k"))

# Small sizes so each model builds and runs in milliseconds.
TINY = {
    "lstm": dict(emb_dim=16, hidden_dim=24, layers=2, dropout=0.0),
    "gru": dict(emb_dim=16, hidden_dim=24, dropout=0.0),
    "bahdanau": dict(emb_dim=16, encoder_dim=12, decoder_dim=24, attention_dim=16, dropout=0.0),
    "luong": dict(emb_dim=16, hidden_dim=24, layers=2, dropout=0.0),
    "convs2s": dict(emb_dim=16, hidden_dim=24, encoder_layers=2, decoder_layers=2, dropout=0.0, max_positions=64),
    "transformer": dict(d_model=16, heads=4, ff_dim=32, encoder_layers=2, decoder_layers=2, dropout=0.0,
                        attention_dropout=0.0),
}

GERMAN = "ein mann mit einem orangefarbenen hut starrt auf etwas . zwei hunde spielen im schnee".split()
ENGLISH = "a man in an orange hat staring at something . two dogs play in the snow".split()


def tiny_model(arch: str, src_size: int = 40, trg_size: int = 40, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(arch, src_size, trg_size, **{**TINY[arch], **overrides}).eval()


@pytest.fixture(scope="session")
def vocabs():
    return Vocab(["<unk>", "<pad>", "<sos>", "<eos>", *GERMAN]), Vocab(["<unk>", "<pad>", "<sos>", "<eos>", *dict.fromkeys(ENGLISH)])


@pytest.fixture(scope="session")
def checkpoint_root(tmp_path_factory, vocabs) -> Path:
    """A checkpoints/ directory with one random-weight model per architecture."""
    root = tmp_path_factory.mktemp("checkpoints")
    src_vocab, trg_vocab = vocabs
    for arch in ARCHITECTURES:
        model = tiny_model(arch, len(src_vocab), len(trg_vocab))
        save_checkpoint(root / arch, model, src_vocab, trg_vocab, "de", "en",
                        metrics={"arch": arch, "parameters": model.num_parameters(),
                                 "test": {"greedy": {"bleu": 1.0, "chrf": 2.0}, "beam5": {"bleu": 1.5, "chrf": 2.5}}})
    return root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "train.de.gz").is_file():
        pytest.skip(f"Multi30k not found at {DATA_DIR}; set SEQ2SEQ_DATA_DIR")
    return DATA_DIR
