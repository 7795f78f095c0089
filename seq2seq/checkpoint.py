"""Checkpoints: one self-contained directory per model, never loaded through pickle.

    config.json        architecture, hyper-parameters, language pair, tokenizer, vocab sizes
    model.safetensors  weights: every tensor of at least 65,536 entries as int8 with one float32
                       scale per row (``NAME`` and ``NAME.int8_scale``), the small rest float16;
                       all restored as float32 on load
    src_vocab.json     source vocabulary, index order
    trg_vocab.json     target vocabulary, index order
    src_spm.model      (subword checkpoints) the SentencePiece models whose pieces the vocabularies
    trg_spm.model      are; the same file twice for a joint vocabulary
    metrics.json       test BLEU/chrF (greedy, beam 5), parameters, training time, hardware

Every file is written to a temporary name and renamed into place, so a killed process
never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .data import SubwordTokenizer, Vocab
from .models import ARCHITECTURES, Seq2Seq, build_model, model_hparams

FORMAT = "seq2seq-checkpoint"
VERSION = 1
FILES = ("config.json", "model.safetensors", "src_vocab.json", "trg_vocab.json")
TOKENIZER_FILES = ("src_spm.model", "trg_spm.model")   # a subword checkpoint's SentencePiece models


class CheckpointError(ValueError):
    """A checkpoint directory is missing, corrupt or inconsistent."""


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` and rename the result to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj, indent: int | None = 2) -> None:
    text = json.dumps(obj, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))
    atomic_write(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None


def weights(model: Seq2Seq, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    return {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in model.state_dict().items()}


SCALE = ".int8_scale"   # the per-row scale of an int8 tensor is stored under its name + SCALE
INT8_MIN_ENTRIES = 65_536   # tensors this large (embeddings, weight matrices, convolutions) are stored as int8


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row (the first dimension): w ~= q * scale, q like w, scale [rows, 1, ...].
    Every entry is within half a step (its row's largest magnitude / 127) of the float value; on the
    shipped models this moved test BLEU by at most 0.1 and halves the checkpoints."""
    rows = w.float().reshape(w.shape[0], -1)                                       # [R, N]
    scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127             # [R, 1]
    q = torch.round(rows / scale).clamp(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale.reshape(w.shape[0], *[1] * (w.dim() - 1))


def dequantize(tensors: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Replace every int8 tensor and its ``.int8_scale`` by the float32 tensor they encode."""
    tensors = dict(tensors)
    for key in [k for k in tensors if k.endswith(SCALE)]:
        name, scale = key[: -len(SCALE)], tensors.pop(key)
        q = tensors.get(name)
        if q is None or q.dtype != torch.int8 or q.dim() < 2 or scale.shape != (q.shape[0], *[1] * (q.dim() - 1)):
            raise CheckpointError(f"{path}: {key} does not scale an int8 tensor of matching rows")
        if not torch.isfinite(scale).all():
            raise CheckpointError(f"{path}: {key} holds NaN or infinite values")
        tensors[name] = q.float() * scale.float()
    return tensors


def tokenizer_config(src_vocab: Vocab, trg_vocab: Vocab) -> dict:
    """config.json's ``tokenizer``: spaCy words, or SentencePiece pieces (joint: one model for both sides)."""
    if src_vocab.subword != trg_vocab.subword:
        raise ValueError("both vocabularies must be words or both SentencePiece pieces")
    if not src_vocab.subword:
        return {"type": "spacy.blank", "lowercase": True}
    return {"type": "sentencepiece", "lowercase": True,
            "joint": src_vocab.tokenizer.model_proto == trg_vocab.tokenizer.model_proto}


def save_checkpoint(directory, model: Seq2Seq, src_vocab: Vocab, trg_vocab: Vocab, src_lang: str, trg_lang: str,
                    dtype: torch.dtype = torch.float16, metrics: dict | None = None,
                    int8: bool = True) -> Path:
    """Write the checkpoint directory. ``dtype`` is the weights' storage type; with ``int8`` every tensor
    of at least ``INT8_MIN_ENTRIES`` entries is stored as int8 rows with a scale each (about half the size)."""
    directory = Path(directory)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "arch": model.arch,
        "hparams": model_hparams(model),
        "src_lang": src_lang,
        "trg_lang": trg_lang,
        "tokenizer": tokenizer_config(src_vocab, trg_vocab),
        "src_vocab_size": len(src_vocab),
        "trg_vocab_size": len(trg_vocab),
        "parameters": model.num_parameters(),
        "dtype": str(dtype).removeprefix("torch."),
        "int8_min_entries": INT8_MIN_ENTRIES if int8 else None,
    }
    tensors = weights(model, dtype)
    if int8:
        for key, value in model.state_dict().items():
            if value.is_floating_point() and value.dim() >= 2 and value.numel() >= INT8_MIN_ENTRIES:
                tensors[key], tensors[key + SCALE] = (t.contiguous() for t in quantize_rows(value.detach().cpu()))
    atomic_write(directory / "model.safetensors", lambda tmp: save_file(tensors, str(tmp)))
    write_json(directory / "src_vocab.json", src_vocab.itos)
    write_json(directory / "trg_vocab.json", trg_vocab.itos)
    for side, vocab in (("src", src_vocab), ("trg", trg_vocab)):
        if vocab.subword:
            proto = vocab.tokenizer.model_proto
            atomic_write(directory / f"{side}_spm.model", lambda tmp, proto=proto: tmp.write_bytes(proto))
        else:
            (directory / f"{side}_spm.model").unlink(missing_ok=True)   # left by an earlier subword run
    write_json(directory / "config.json", config)
    if metrics is not None:
        write_json(directory / "metrics.json", metrics)
    return directory


def read_config(directory) -> dict:
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a checkpoint directory")
    config = read_json(directory / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{directory / 'config.json'} is not a {FORMAT} config")
    if config.get("version") != VERSION:
        raise CheckpointError(f"{directory} has checkpoint version {config.get('version')}, this code reads {VERSION}")
    if config.get("arch") not in ARCHITECTURES:
        raise CheckpointError(f"{directory}: unknown architecture {config.get('arch')!r}")
    return config


def load_model(directory, device="cpu"):
    """Load ``(model, src_vocab, trg_vocab, config)`` from a checkpoint directory, validated."""
    directory = Path(directory)
    config = read_config(directory)
    vocabs = []
    for side in ("src", "trg"):
        itos = read_json(directory / f"{side}_vocab.json")
        sp = None
        if config.get("tokenizer", {}).get("type") == "sentencepiece":
            sp_path = directory / f"{side}_spm.model"
            try:
                sp = SubwordTokenizer.from_file(sp_path)
            except FileNotFoundError:
                raise CheckpointError(f"{sp_path} is missing (config.json names a SentencePiece tokenizer)") from None
            except (OSError, RuntimeError) as e:
                raise CheckpointError(f"{sp_path} is not a SentencePiece model ({e})") from None
            if sp.pieces() != itos:
                raise CheckpointError(f"{directory / f'{side}_vocab.json'} is not the piece list of {sp_path.name}")
        try:
            vocab = Vocab(itos, sp)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{directory / f'{side}_vocab.json'}: {e}") from None
        if len(vocab) != config.get(f"{side}_vocab_size"):
            raise CheckpointError(f"{directory}: {side} vocabulary has {len(vocab)} tokens, config says {config.get(f'{side}_vocab_size')}")
        vocabs.append(vocab)
    try:
        model = build_model(config["arch"], len(vocabs[0]), len(vocabs[1]), **config.get("hparams", {}))
    except (TypeError, ValueError, AssertionError) as e:
        raise CheckpointError(f"{directory / 'config.json'}: {e}") from None
    path = directory / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is corrupt or truncated ({e})") from None
    tensors = dequantize(tensors, path)
    expected = model.state_dict()
    missing, unexpected = expected.keys() - tensors.keys(), tensors.keys() - expected.keys()
    if missing or unexpected:
        raise CheckpointError(f"{path} does not match the config ({config['arch']}): "
                              f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(f"{path}: {k} has shape {tuple(v.shape)}, the config implies {tuple(expected[k].shape)}")
        if expected[k].is_floating_point() and not v.is_floating_point():
            raise CheckpointError(f"{path}: {k} is stored as {v.dtype}, without the scale that would make it a float")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: {k} holds NaN or infinite values")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    model.to(device).eval()
    return model, vocabs[0], vocabs[1], config


def read_metrics(directory) -> dict:
    path = Path(directory) / "metrics.json"
    return read_json(path) if path.is_file() else {}


def find_checkpoints(root) -> list[Path]:
    """Checkpoint directories directly under ``root`` (or ``root`` itself), sorted by architecture order."""
    root = Path(root)
    if (root / "config.json").is_file():
        return [root]
    dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and (d / "config.json").is_file()] if root.is_dir() else []
    order = list(ARCHITECTURES)
    return sorted(dirs, key=lambda d: (order.index(d.name) if d.name in order else len(order), d.name))
