"""The GPU path: every shipped checkpoint translates on CUDA as it does on the CPU, and train.py
trains on CUDA with bfloat16 autocast (its default there) and with ``--no-autocast``.

The tests marked ``cuda`` skip with "no CUDA device" where ``torch.cuda.is_available()`` is
False (``-m cuda`` selects them, ``-m "not cuda"`` leaves them out). They are kept cheap: a
handful of sentences per checkpoint, and one epoch on 200 pairs of a slice of Multi30k."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seq2seq import load_checkpoint
from seq2seq.explorer.examples import TEST_EXAMPLES

from conftest import ROOT

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

# Every shipped checkpoint, the attention family's members (checkpoints/family/*) included.
SHIPPED = sorted(p.parent for p in (ROOT / "checkpoints").rglob("config.json") if "resume" not in p.parts)
SENTENCES = [s for s, _ in TEST_EXAMPLES[:8]]          # test_2016_flickr's first sentences, built in
ATTENTION_TOLERANCE = 1e-4   # float32 on both sides (TF32 off): differences are ~1e-6


@pytest.fixture
def float32_gpu():
    """Full float32 on the GPU for the comparison: no TF32 in matmuls, convolutions or cuDNN RNNs,
    so a different word can only come from a real difference, not from rounding."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT / "checkpoints")) for p in SHIPPED])
def test_shipped_checkpoint_translates_on_the_gpu_as_on_the_cpu(path, float32_gpu):
    cpu, gpu = load_checkpoint(path), load_checkpoint(path, device="cuda")
    assert gpu.device.type == "cuda" and cpu.device.type == "cpu"
    for ours, theirs in zip(gpu.translate(SENTENCES), cpu.translate(SENTENCES), strict=True):
        assert ours.raw_tokens == theirs.raw_tokens and ours.text == theirs.text, ours.source
        assert ours.finished == theirs.finished
        assert math.isclose(ours.log_prob, theirs.log_prob, rel_tol=1e-4, abs_tol=1e-4), ours.source
        assert ours.attention.keys() == theirs.attention.keys(), ours.source
        for kind, weights in theirs.attention.items():
            on_gpu = ours.attention[kind].detach().float().cpu()
            assert on_gpu.shape == weights.shape, (ours.source, kind)
            assert torch.allclose(on_gpu, weights, atol=ATTENTION_TOLERANCE, rtol=0), (ours.source, kind)


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("autocast", [True, False], ids=["bf16-autocast", "no-autocast"])
def test_a_short_training_run_on_the_gpu(autocast, data_dir, tmp_path, monkeypatch):
    """One epoch of the transformer on 200 pairs, through train.main, on CUDA: every training batch
    runs under bf16 autocast by default and in float32 with --no-autocast, and the loss stays finite."""
    import train

    monkeypatch.setenv("SEQ2SEQ_THREADS", "1")
    seen = []
    real_batch_loss = train.batch_loss

    def batch_loss(model, batch, label_smoothing):
        loss, n = real_batch_loss(model, batch, label_smoothing)
        if model.training:
            seen.append((batch.src.device.type, torch.is_autocast_enabled(), loss.dtype))  # no argument: CUDA's
        return loss, n

    monkeypatch.setattr(train, "batch_loss", batch_loss)
    out = tmp_path / "transformer"
    argv = ["--arch", "transformer", "--limit", "200", "--epochs", "1", "--val-limit", "20", "--test-beam", "0",
            "--data-dir", str(data_dir), "--out", str(out), "--device", "cuda", *([] if autocast else ["--no-autocast"])]
    assert train.main(argv) == 0
    assert seen and set(seen) == {("cuda", autocast, torch.float32)}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 1 and math.isfinite(metrics["history"][0]["train_loss"])
    assert metrics["hardware"] == torch.cuda.get_device_name()
    assert load_checkpoint(out).translate(SENTENCES[:2])[0].text is not None   # and it loads on the CPU


def test_no_autocast_switch_parses():
    import train

    assert train.parse_args(["--arch", "transformer"]).autocast is True         # default: bf16 autocast on CUDA
    assert train.parse_args(["--arch", "transformer", "--no-autocast"]).autocast is False


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("vocab", ["word", "sentencepiece"])
def test_data_parallel_training_on_the_gpu_with_nccl(vocab, data_dir, tmp_path):
    """torchrun with one process per GPU (one suffices for NCCL), bf16 autocast, writes a checkpoint that loads."""
    import os
    import subprocess
    import sys

    n = max(1, min(2, torch.cuda.device_count()))
    out = tmp_path / "gru"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "train.py",
         "--arch", "gru", "--data-dir", str(data_dir), "--limit", "200", "--val-limit", "20", "--epochs", "1",
         "--test-beam", "0", "--vocab", vocab, "--vocab-size", "600", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "SEQ2SEQ_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"on cuda:0 x {n} processes" in result.stdout or (n == 1 and "on cuda:0;" in result.stdout)
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["history"][0]["train_loss"])
    [t] = load_checkpoint(out, "cuda").translate(["Zwei Hunde spielen im Schnee."])
    assert t.tokens is not None
