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
from safetensors import safe_open
from safetensors.torch import load_file

from seq2seq import Tokenizer, load_checkpoint
from seq2seq import detokenize
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
        assert t.text == detokenize(t.tokens) and len(t.raw_tokens) <= 8
        assert len(t.output_labels) == len(t.raw_tokens) + t.finished


_translators = {}


def load_translator(path):
    if path not in _translators:
        _translators[path] = load_checkpoint(path)
    return _translators[path]


def train_cmd(data_dir, out, *extra):
    return [sys.executable, "train.py", "--arch", "gru", "--limit", "400", "--val-limit", "20", "--test-beam", "0",
            "--data-dir", str(data_dir), "--out", str(out), "--set", "hidden_dim=32", "--set", "emb_dim=16", *extra]


def saved_progress(out: Path) -> dict:
    """The progress a resumed run starts from: it travels inside the resume weights file."""
    with safe_open(str(out / "resume" / "state.safetensors"), "pt") as f:
        return json.loads(f.metadata()["info"])


def assert_whole(out: Path):
    """Every file a run has put in place parses: none is half-written."""
    for path in [*out.rglob("*.json"), *out.rglob("*.safetensors")]:
        json.loads(path.read_text()) if path.suffix == ".json" else load_file(path)
    load_checkpoint(out)


# Runs train.py, but SIGKILLs it half-way through writing the second epoch's state.json: the
# moment after the resume weights of epoch 2 are in place and before their readable copy is.
DIE_WHILE_WRITING = """
import os, runpy, signal, sys
from pathlib import Path
import seq2seq.checkpoint as checkpoint

real, written = checkpoint.atomic_write, []

def atomic_write(path, write):
    written.append(Path(path).name)
    if Path(path).name == "state.json" and written.count("state.json") == 2:
        tmp = Path(path).with_name(f".state.json.{os.getpid()}.tmp")
        write(tmp)
        tmp.write_bytes(tmp.read_bytes()[: tmp.stat().st_size // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, write)

checkpoint.atomic_write = atomic_write
sys.argv = sys.argv[1:]
runpy.run_path("train.py", run_name="__main__")
"""


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
    saved = saved_progress(out)
    assert saved["epoch"] in (1, 2)
    assert_whole(out)

    result = subprocess.run(train_cmd(data_dir, out, "--epochs", "4", "--resume"), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"resumed after epoch {saved['epoch']}" in result.stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[: saved["epoch"]] == saved["history"]
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_training_killed_while_writing_resumes_from_what_it_had_written(data_dir, tmp_path):
    out = tmp_path / "gru"
    env = {**os.environ, "SEQ2SEQ_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", DIE_WHILE_WRITING, *train_cmd(data_dir, out, "--epochs", "3")[1:]],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list((out / "resume").glob(".state.json.*.tmp"))       # it died mid-write,
    assert json.loads((out / "resume" / "state.json").read_text())["epoch"] == 1   # the old copy stayed whole
    assert_whole(out)

    result = subprocess.run(train_cmd(data_dir, out, "--epochs", "3", "--resume"), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "resumed after epoch 2" in result.stdout              # epoch 2 was complete: it is not trained again
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
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
    assert "loss became" in result.stderr and "lower --lr" in result.stderr and "Traceback" not in result.stderr
    assert (out / "model.safetensors").read_bytes() == good
    assert saved_progress(out)["epoch"] == 1                      # --resume goes on from the last good epoch
    assert_whole(out)


def test_diverged_validation_loss_saves_nothing_of_that_epoch(data_dir, tmp_path, monkeypatch, capsys):
    import train

    monkeypatch.setenv("SEQ2SEQ_THREADS", "1")
    monkeypatch.setattr(train, "validation_loss", lambda model, batches: float("inf"))
    out = tmp_path / "gru"
    assert train.main(train_cmd(data_dir, out, "--epochs", "1")[2:]) == 2
    assert "validation loss became inf" in capsys.readouterr().err
    assert not (out / "model.safetensors").exists() and not (out / "resume").exists()
