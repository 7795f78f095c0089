"""Checkpoints on disk: what is stored, what comes back, and the shipped ones within their limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from seq2seq import ARCHITECTURES, checkpoint
from seq2seq.checkpoint import SCALE, CheckpointError, find_checkpoints, load_model, save_checkpoint

from conftest import ROOT, tiny_model


@pytest.fixture
def small_int8_threshold(monkeypatch):
    """Tiny models' tensors are far below the real threshold: lower it so they go through int8 too."""
    monkeypatch.setattr(checkpoint, "INT8_MIN_ENTRIES", 256)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_weights_come_back_as_float32_close_to_the_trained_ones(arch, vocabs, tmp_path, small_int8_threshold):
    src_vocab, trg_vocab = vocabs
    model = tiny_model(arch, len(src_vocab), len(trg_vocab))
    save_checkpoint(tmp_path, model, src_vocab, trg_vocab, "de", "en")
    stored = load_file(tmp_path / "model.safetensors")
    loaded, *_ = load_model(tmp_path)
    large = {k for k, v in model.state_dict().items() if v.is_floating_point() and v.dim() >= 2 and v.numel() >= 256}
    tables = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)}
    assert tables <= large and all(stored[k].dtype == torch.int8 and k + SCALE in stored for k in large)
    for key, trained in model.state_dict().items():
        back = loaded.state_dict()[key]
        assert back.dtype == trained.dtype and back.shape == trained.shape
        if key in large:     # int8 rows: within half a step (row max / 127) of each value
            rows = trained.reshape(trained.shape[0], -1)
            step = rows.abs().amax(dim=1, keepdim=True) / 127
            assert ((back.reshape(rows.shape) - rows).abs() <= step / 2 + 1e-6).all(), key
        elif trained.is_floating_point():   # float16
            torch.testing.assert_close(back, trained, rtol=1e-3, atol=1e-4)


def on_the_storage_grid(model, int8: bool):
    """Move every weight onto the grid it is stored on (int8 rows times their scale, or float16), so
    that saving and loading must give it back unchanged: then the loaded model must translate exactly
    as the one in memory did (with arbitrary weights, rounding may flip a near tie between two words)."""
    with torch.no_grad():
        for value in model.state_dict().values():      # views of the parameters themselves
            if not value.is_floating_point():
                continue
            if int8 and value.dim() >= 2 and value.numel() >= checkpoint.INT8_MIN_ENTRIES:
                rows = value.reshape(value.shape[0], -1)
                scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
                value.copy_((torch.round(rows / scale) * scale).reshape(value.shape))
            else:
                value.copy_(value.half().float())
    return model


@pytest.mark.parametrize("int8", [False, True])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_the_loaded_model_is_the_saved_one(arch, int8, vocabs, tmp_path, small_int8_threshold):
    """Round trip: the model in memory against the one loaded back, not two loads of one file."""
    from seq2seq import Translator, load_checkpoint

    src_vocab, trg_vocab = vocabs
    model = on_the_storage_grid(tiny_model(arch, len(src_vocab), len(trg_vocab)), int8)
    save_checkpoint(tmp_path, model, src_vocab, trg_vocab, "de", "en", int8=int8)
    stored = load_file(tmp_path / "model.safetensors")
    assert any(v.dtype == torch.int8 for v in stored.values()) == int8
    loaded = load_checkpoint(tmp_path)
    assert loaded.model.training is False and loaded.arch == arch
    assert loaded.src_vocab.itos == src_vocab.itos and loaded.trg_vocab.itos == trg_vocab.itos
    back = loaded.model.state_dict()
    assert back.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert back[key].dtype == value.dtype, key
        torch.testing.assert_close(back[key], value, atol=1e-6, rtol=1e-5, msg=key)
    in_memory = Translator(model, src_vocab, trg_vocab, {"arch": arch, "src_lang": "de"})
    texts = ["Ein Mann mit einem orangefarbenen Hut starrt auf etwas.", "Zwei Hunde spielen im Schnee.",
             "Ein Hund im Schnee."]
    for beam in (1, 3):
        for ours, theirs in zip(loaded.translate(texts, beam_size=beam), in_memory.translate(texts, beam_size=beam)):
            assert ours.raw_tokens == theirs.raw_tokens and ours.tokens == theirs.tokens, (arch, beam, ours.source)
            assert ours.log_prob == pytest.approx(theirs.log_prob, abs=1e-4)
            assert [n for n, _ in ours.nbest] == [n for n, _ in theirs.nbest]
            for kind, weights in theirs.attention.items():
                torch.testing.assert_close(ours.attention[kind], weights, atol=1e-5, rtol=1e-4)


def test_checkpoints_are_found_in_architecture_order(checkpoint_root):
    assert [p.name for p in find_checkpoints(checkpoint_root)] == list(ARCHITECTURES)
    assert find_checkpoints(checkpoint_root / "gru") == [checkpoint_root / "gru"]


def test_int8_tensors_halve_their_bytes(vocabs, tmp_path, small_int8_threshold):
    src_vocab, trg_vocab = vocabs
    model = tiny_model("gru", len(src_vocab), len(trg_vocab), emb_dim=128)   # rows as wide as real ones
    save_checkpoint(tmp_path / "int8", model, src_vocab, trg_vocab, "de", "en")
    save_checkpoint(tmp_path / "fp16", model, src_vocab, trg_vocab, "de", "en", int8=False)
    assert json.loads((tmp_path / "int8" / "config.json").read_text())["int8_min_entries"] == 256
    table_bytes = sum(v.numel() for v in model.state_dict().values() if v.dim() >= 2 and v.numel() >= 256)
    saved = (tmp_path / "fp16" / "model.safetensors").stat().st_size - (tmp_path / "int8" / "model.safetensors").stat().st_size
    assert saved > 0.7 * table_bytes     # one byte of two per entry, less a 4-byte scale per row


@pytest.mark.parametrize("damage, reason", [
    ("drop-scale", "without the scale"),
    ("nan-scale", "NaN or infinite"),
    ("short-scale", "does not scale an int8 tensor"),
])
def test_a_damaged_int8_tensor_is_refused_with_the_reason(damage, reason, vocabs, tmp_path, small_int8_threshold):
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


@pytest.mark.skipif(not SHIPPED, reason="no checkpoint is committed")
def test_shipped_checkpoints_were_trained_by_the_default_recipe(monkeypatch):
    """The command in each shipped checkpoint's metrics.json reproduces it: `python train.py --arch ARCH` (the
    defaults are the recipe that ran), or that command with the options it names (the subword Transformer)."""
    import shlex

    monkeypatch.syspath_prepend(str(ROOT))
    import train

    for directory in SHIPPED:
        config = json.loads((directory / "config.json").read_text())
        arch = config["arch"]
        metrics = json.loads((directory / "metrics.json").read_text())
        argv = shlex.split(metrics["command"])
        assert argv[:4] == ["python", "train.py", "--arch", arch], arch
        if directory.name == arch:
            assert len(argv) == 4, arch                                   # the architecture's own name: its defaults
        default = train.recipe_for(arch, train.parse_args(argv[2:]))
        ran = {k: v for k, v in metrics["recipe"].items() if k != "hparams"}
        assert ran == {k: v for k, v in default.items() if k != "hparams"}, arch
        # hyper-parameters as the model was built: the Config defaults with the recipe's overrides (a checkpoint
        # written before a hyper-parameter existed lacks it, and loads with its default, as it was trained)
        config_class = ARCHITECTURES[arch].Config
        assert config_class(**config["hparams"]) == config_class(**default["hparams"]), arch
