"""train.py end to end on a slice of the shared data, resuming, and the evaluation CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seq2seq import detokenize, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd=ROOT, check=True):
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "SEQ2SEQ_THREADS": "1"})
    if check and result.returncode:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_train_writes_a_loadable_scored_checkpoint(arch, data_dir, tmp_path):
    out = tmp_path / arch
    run("train.py", "--arch", arch, "--epochs", "2", "--limit", "300", "--val-limit", "40", "--test-beam", "0",
        "--data-dir", str(data_dir), "--out", str(out), "--set", "dropout=0.1")
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == arch and config["src_lang"] == "de" and config["hparams"]["dropout"] == 0.1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 2 and len(metrics["history"]) == 2
    assert {"val_loss", "val_ppl", "val_bleu"} <= metrics["history"][0].keys()
    probes = json.loads((out / "probes.json").read_text())  # how alignment emerged, per epoch
    assert [e["epoch"] for e in probes["epochs"]] == [1, 2]
    first = probes["epochs"][0]["probes"][0]
    if arch == "transformer":
        assert len(first["alignment"]) == len(first["tokens"]) and len(first["alignment"][0]) == len(first["src_tokens"])
    else:
        assert first["alignment"] is None
    assert (out / "probes.json").stat().st_size < 50_000
    [t] = load_checkpoint(out).translate(["Ein Hund."])
    assert t.src_tokens == ["ein", "hund", "."] and t.text == detokenize(t.tokens)

    result = run("-m", "seq2seq.evaluate", str(out), "--split", "val", "--limit", "30", "--beam", "2",
                 "--data-dir", str(data_dir), "--json")
    scores = json.loads(result.stdout)
    assert 0 <= scores["bleu"] <= 100 and scores["sentences"] == 30 and scores["beam"] == 2


def test_resume_continues_without_losing_an_epoch(data_dir, tmp_path):
    out = tmp_path / "lstm"
    common = ["train.py", "--arch", "lstm", "--limit", "200", "--val-limit", "20", "--test-beam", "0",
              "--data-dir", str(data_dir), "--out", str(out)]
    run(*common, "--epochs", "1")
    first = json.loads((out / "resume" / "state.json").read_text())
    assert first["epoch"] == 1
    result = run(*common, "--epochs", "2", "--resume")
    assert "resumed after epoch 1" in result.stdout
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0] == first["history"][0]


def test_missing_data_is_one_clear_message(tmp_path):
    result = run("train.py", "--arch", "gru", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 2
    assert "--data-dir" in result.stderr and "SEQ2SEQ_DATA_DIR" in result.stderr and "Traceback" not in result.stderr


def write_lines(path: Path, lines: list[str]) -> Path:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    return path


def test_any_corpus_trains_end_to_end_from_named_files_and_a_tsv(data_dir, tmp_path):
    """French to German, from files of other names: plain text for training, a gzipped TSV for validation,
    a plain TSV for the test; SentencePiece pieces."""
    from seq2seq.data import read_lines

    fr, de = (read_lines(data_dir / f"train.{lang}.gz") for lang in ("fr", "de"))
    train_src = write_lines(tmp_path / "corpus.train.source", fr[:300])
    train_trg = write_lines(tmp_path / "corpus.train.target", de[:300])
    valid = write_lines(tmp_path / "dev.tsv.gz", [f"{a}\t{b}" for a, b in zip(fr[300:340], de[300:340])])
    test = write_lines(tmp_path / "test.tsv", [f"{a}\t{b}" for a, b in zip(fr[340:380], de[340:380])])
    out = tmp_path / "fr-de"
    result = run("train.py", "--arch", "gru", "--src", "fr", "--trg", "de", "--train", str(train_src), str(train_trg),
                 "--valid", str(valid), "--test", str(test), "--vocab", "sentencepiece", "--vocab-size", "600",
                 "--epochs", "1", "--test-beam", "2", "--set", "emb_dim=16", "--set", "hidden_dim=24", "--out", str(out))
    assert "300 training pairs" in result.stdout and "test greedy" in result.stdout
    config = json.loads((out / "config.json").read_text())
    assert (config["src_lang"], config["trg_lang"], config["tokenizer"]["type"]) == ("fr", "de", "sentencepiece")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["greedy"]["split"] == "test" and metrics["test"]["greedy"]["sentences"] == 40
    [t] = load_checkpoint(out).translate(["Deux chiens jouent dans la neige."], max_len=6)
    assert "<unk>" not in t.raw_tokens
    scored = run("-m", "seq2seq.evaluate", str(out), "--files", str(test), "--beam", "1", "--json")
    assert json.loads(scored.stdout)["bleu"] == metrics["test"]["greedy"]["bleu"]


def test_a_corpus_that_is_not_parallel_is_one_clear_message(tmp_path):
    src = write_lines(tmp_path / "a.txt", ["eins", "zwei"])
    trg = write_lines(tmp_path / "b.txt", ["one"])
    tsv = write_lines(tmp_path / "c.tsv", ["eins\tone", "zwei"])
    for files in ([src, trg], [tsv]):
        result = run("train.py", "--arch", "gru", "--train", *map(str, files), "--valid", str(tsv), check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert ("2 lines" in result.stderr) if len(files) == 2 else ("line 2" in result.stderr)
    result = run("train.py", "--arch", "gru", "--train", str(src), str(trg), check=False)
    assert result.returncode == 2 and "--valid" in result.stderr
