"""Bad input and killed training: always a clear message or a correct result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seq2seq import Tokenizer, load_checkpoint
from seq2seq.checkpoint import find_checkpoints

ROOT = Path(__file__).resolve().parent.parent


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_tokenizer_takes_any_unicode(text):
    for lang in ("de", "en"):
        tokens = Tokenizer(lang)(text)
        assert all(isinstance(t, str) and t and not t.isspace() for t in tokens)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_every_model_translates_any_unicode(checkpoint_root, text):
    for path in find_checkpoints(checkpoint_root):
        [t] = load_translator(path).translate([text], beam_size=2, max_len=8)
        assert isinstance(t.text, str)


_translators = {}


def load_translator(path):
    if path not in _translators:
        _translators[path] = load_checkpoint(path)
    return _translators[path]


def train_cmd(data_dir, out, *extra):
    return [sys.executable, "train.py", "--arch", "gru", "--limit", "400", "--val-limit", "20", "--test-beam", "0",
            "--data-dir", str(data_dir), "--out", str(out), "--set", "hidden_dim=32", "--set", "emb_dim=16", *extra]


@pytest.mark.slow
def test_training_killed_mid_epoch_resumes_without_losing_an_epoch(data_dir, tmp_path):
    out = tmp_path / "gru"
    env = {**os.environ, "SEQ2SEQ_THREADS": "1"}
    proc = subprocess.Popen(train_cmd(data_dir, out, "--epochs", "4"), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "resume" / "state.json"
    deadline = time.time() + 300
    while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 1):
        assert proc.poll() is None and time.time() < deadline, "training ended or stalled before its first epoch"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # now in epoch 2
    proc.wait()
    saved = json.loads(state.read_text())
    assert saved["epoch"] in (1, 2)
    load_checkpoint(out)  # what is on disk is whole

    result = subprocess.run(train_cmd(data_dir, out, "--epochs", "4", "--resume"), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"resumed after epoch {saved['epoch']}" in result.stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[: saved["epoch"]] == saved["history"]
    assert not list(out.rglob("*.tmp"))


def test_diverging_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    out = tmp_path / "gru"
    env = {**os.environ, "SEQ2SEQ_THREADS": "1"}
    subprocess.run(train_cmd(data_dir, out, "--epochs", "1"), cwd=ROOT, env=env, check=True, capture_output=True)
    good = (out / "model.safetensors").read_bytes()
    result = subprocess.run(train_cmd(data_dir, out, "--epochs", "3", "--resume", "--lr", "1e30", "--warmup-steps", "1",
                                      "--clip", "1e30"),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    assert "loss became" in result.stderr and "Traceback" not in result.stderr
    assert (out / "model.safetensors").read_bytes() == good
    load_checkpoint(out)
