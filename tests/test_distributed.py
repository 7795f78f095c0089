"""Data-parallel training on the CPU: two gloo processes take the same steps as one process on the same
global batch, only rank 0 writes files, and a run killed on any rank resumes from its last saved step."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def tiny_run(data_dir: Path, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    """A tiny GRU on 160 pairs, no dropout (so every process's arithmetic is deterministic)."""
    return ["--arch", "gru", "--data-dir", str(data_dir), "--limit", "160", "--val-limit", "16",
            "--epochs", str(epochs), "--max-tokens", "150", "--warmup-steps", "2", "--seed", "3",
            "--set", "emb_dim=16", "--set", "hidden_dim=24", "--dropout", "0", "--test-beam", "0",
            "--out", str(out), *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, argv: list[str], cache: str, forbid_writes_on: int) -> None:
    """One process as torchrun starts it: the launcher's environment, then train.py's main."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), SEQ2SEQ_CACHE_DIR=cache, SEQ2SEQ_THREADS="1")
    if rank == forbid_writes_on:
        def no_write(src, dst, *a, **k):   # every file the project writes is renamed into place
            raise AssertionError(f"rank {rank} wrote {dst}")
        os.replace = no_write
    sys.path.insert(0, str(ROOT))
    import train

    if train.main(argv) != 0:
        raise SystemExit(f"rank {rank} failed")


def model_weights(out: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(out / "resume" / "state.safetensors")).items() if k.startswith("model.")}


def run_single(argv: list[str], cache: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SEQ2SEQ_CACHE_DIR": str(cache), "SEQ2SEQ_THREADS": "1", **(env or {})})


def test_two_processes_take_the_steps_one_process_takes_on_the_same_global_batch(data_dir, tmp_path):
    cache = tmp_path / "cache"
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    mp.start_processes(_rank, args=(2, free_port(), tiny_run(data_dir, ddp), str(cache), 1), nprocs=2,
                       start_method="spawn", join=True)
    result = run_single(tiny_run(data_dir, single, "--update-freq", "2"), cache)
    assert result.returncode == 0, result.stderr
    a, b = model_weights(ddp), model_weights(single)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key
    # and they did move: not two copies of the initial weights
    init = run_single(tiny_run(data_dir, tmp_path / "one-step", "--update-freq", "2", epochs=1), cache)
    assert init.returncode == 0, init.stderr
    moved = model_weights(tmp_path / "one-step")
    assert any(not torch.allclose(moved[k], a[k]) for k in a)
    # rank 0 wrote the checkpoint the app loads (rank 1 raised on any write: see _rank)
    from seq2seq.translator import load_checkpoint

    translator = load_checkpoint(ddp)
    [t] = translator.translate(["Zwei Hunde spielen im Schnee."], max_len=5)
    assert t.tokens
    assert translator.metrics["hardware"].endswith("2 processes (DistributedDataParallel)")
    assert "torchrun --nproc_per_node=2 train.py" in translator.metrics["command"]


def torchrun(argv: list[str], cache: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "train.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SEQ2SEQ_CACHE_DIR": str(cache), "SEQ2SEQ_THREADS": "1", **(env or {})})


@pytest.fixture(scope="module")
def uninterrupted(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "gru"
    done = torchrun(tiny_run(data_dir, out, "--save-every", "2"), out.parent / "cache")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("killed_rank", [0, 1])
def test_a_run_killed_on_any_rank_resumes_from_its_last_saved_step(data_dir, tmp_path, killed_rank, uninterrupted):
    import json

    cache, killed = tmp_path / "cache", tmp_path / "killed"
    # 160 pairs in batches of <= 150 tokens: 10 steps an epoch on two processes; saved every 2 steps
    result = torchrun(tiny_run(data_dir, killed, "--save-every", "2"), cache, {"SEQ2SEQ_KILL_AT": f"{killed_rank}:7"})
    assert result.returncode != 0                      # torchrun saw a process die and stopped the others
    saved = json.loads((killed / "resume" / "state.json").read_text())
    assert (saved["epoch"], saved["epoch_step"], saved["step"]) == (0, 6, 6)   # the last save before the kill
    resumed = torchrun(tiny_run(data_dir, killed, "--save-every", "2", "--resume"), cache)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after step 6 of epoch 1" in resumed.stdout
    a, b = model_weights(killed), model_weights(uninterrupted)
    for key in a:                                      # the resumed run ends where the uninterrupted one does
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-6), key
    final = json.loads((killed / "resume" / "state.json").read_text())
    assert final["step"] == json.loads((uninterrupted / "resume" / "state.json").read_text())["step"] == 20
    assert [r["epoch"] for r in final["history"]] == [1, 2]
