"""Checkpoints on disk: what is stored, what comes back, and the shipped ones within their limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from seq2seq import ARCHITECTURES
from seq2seq.checkpoint import SCALE, CheckpointError, find_checkpoints, load_model, save_checkpoint

from conftest import ROOT, tiny_model


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_weights_come_back_as_float32_close_to_the_trained_ones(arch, vocabs, tmp_path):
    src_vocab, trg_vocab = vocabs
    model = tiny_model(arch, len(src_vocab), len(trg_vocab))
    save_checkpoint(tmp_path, model, src_vocab, trg_vocab, "de", "en")
    stored = load_file(tmp_path / "model.safetensors")
    loaded, *_ = load_model(tmp_path)
    tables = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)}
    assert tables and all(stored[k].dtype == torch.int8 and k + SCALE in stored for k in tables)
    for key, trained in model.state_dict().items():
        back = loaded.state_dict()[key]
        assert back.dtype == trained.dtype and back.shape == trained.shape
        if key in tables:    # int8 rows: within half a step (row max / 127) of each value
            step = trained.abs().amax(dim=1, keepdim=True) / 127
            assert ((back - trained).abs() <= step / 2 + 1e-6).all(), key
        elif trained.is_floating_point():   # float16
            torch.testing.assert_close(back, trained, rtol=1e-3, atol=1e-4)


def test_int8_tables_halve_the_embedding_bytes(vocabs, tmp_path):
    src_vocab, trg_vocab = vocabs
    model = tiny_model("gru", len(src_vocab), len(trg_vocab), emb_dim=128)   # rows as wide as real ones
    save_checkpoint(tmp_path / "int8", model, src_vocab, trg_vocab, "de", "en")
    save_checkpoint(tmp_path / "fp16", model, src_vocab, trg_vocab, "de", "en", int8_embeddings=False)
    assert json.loads((tmp_path / "int8" / "config.json").read_text())["embedding_dtype"] == "int8"
    table_bytes = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    saved = (tmp_path / "fp16" / "model.safetensors").stat().st_size - (tmp_path / "int8" / "model.safetensors").stat().st_size
    assert saved > 0.7 * table_bytes     # one byte of two per entry, less a 4-byte scale per row


@pytest.mark.parametrize("damage, reason", [
    ("drop-scale", "without the scale"),
    ("nan-scale", "NaN or infinite"),
    ("short-scale", "does not scale an int8 table"),
])
def test_a_damaged_int8_table_is_refused_with_the_reason(damage, reason, vocabs, tmp_path):
    src_vocab, trg_vocab = vocabs
    save_checkpoint(tmp_path, tiny_model("transformer", len(src_vocab), len(trg_vocab)), src_vocab, trg_vocab, "de", "en")
    path = tmp_path / "model.safetensors"
    tensors = load_file(path)
    key = next(k for k in tensors if k.endswith(SCALE))
    if damage == "drop-scale":
        del tensors[key]
    elif damage == "nan-scale":
        tensors[key][0] = float("nan")
    else:
        tensors[key] = tensors[key][:-1].contiguous()
    save_file(tensors, path)
    with pytest.raises(CheckpointError, match=reason):
        load_model(tmp_path)


SHIPPED = find_checkpoints(ROOT / "checkpoints")


@pytest.mark.skipif(not SHIPPED, reason="no checkpoint is committed")
def test_shipped_checkpoints_keep_within_the_size_limits_and_load():
    sizes = {}
    for directory in SHIPPED:
        model, *_ = load_model(directory)
        assert model.num_parameters() <= 8_000_000, directory.name
        sizes[directory.name] = sum(f.stat().st_size for f in Path(directory).iterdir() if f.is_file())
    assert max(sizes.values()) <= 16_000_000, sizes
    assert sum(sizes.values()) <= 80_000_000, sizes
