"""Shared fixtures: small vocabularies and random-weight checkpoints of every architecture,
written through the real ``save_checkpoint`` so tests never depend on the shipped models."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from seq2seq import ARCHITECTURES, Vocab, build_model, save_checkpoint

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
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


@pytest.fixture(scope="module")
def models(checkpoint_root):
    """The app's models, loaded from the tiny checkpoints (the app is imported only by tests that use it)."""
    import app

    return app.Models(checkpoint_root, device="cpu")


@pytest.fixture(scope="module")
def ui(models):
    import app

    _, ui = app.build_app(models)
    return ui


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "train.de.gz").is_file():
        pytest.skip(f"Multi30k not found at {DATA_DIR}; set SEQ2SEQ_DATA_DIR")
    return DATA_DIR


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(checkpoints: Path, log: Path, env: dict | None = None):
    """``python app.py --checkpoints DIR --port FREE`` as a subprocess, yielded (process, url)
    once it answers; stopped afterwards. Fails the test with the app's log if it never answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--checkpoints", str(checkpoints), "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}:\n{log.read_text()}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"app.py did not answer on {url} within 120 s:\n{log.read_text()}")
                time.sleep(0.5)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
