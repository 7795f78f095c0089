"""Finding, tokenizing and batching Multi30k."""

from __future__ import annotations


import pytest

from seq2seq.data import (LANGUAGES, PAD_IDX, DataNotFoundError, Tokenizer, Vocab, bucket, bucketed_batches, encode_pairs,
                          find_split_files, load_split, read_lines)

from conftest import FULL_SIZES


def lines(path) -> int:
    return len(read_lines(path))


def test_tokenizer_is_spacy_rule_based_and_lowercased():
    assert Tokenizer("de")("Ein Mann, der lächelt.") == ["ein", "mann", ",", "der", "lächelt", "."]
    assert Tokenizer("en")("Don't stop!") == ["do", "n't", "stop", "!"]
    assert Tokenizer("de")("a\x00b\tc") == ["a", "b", "c"]  # control characters are dropped


def test_vocab_has_specials_first_and_min_frequency():
    vocab = Vocab.build([["a", "b", "a"], ["b", "c"]], min_freq=2)
    assert vocab.itos == ["<unk>", "<pad>", "<sos>", "<eos>", "a", "b"]
    assert vocab.encode(["a", "c"]) == [4, 0]
    with pytest.raises(ValueError):
        Vocab(["a", "<pad>"])


def test_missing_data_error_names_the_options_and_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQ2SEQ_DATA_DIR", raising=False)
    with pytest.raises(DataNotFoundError) as info:
        find_split_files("train", ("de", "en"), tmp_path)
    message = str(info.value)
    assert "--data-dir" in message and "SEQ2SEQ_DATA_DIR" in message
    assert "train.de.gz" in message and str(tmp_path) in message


def test_failed_download_leaves_nothing_and_says_what_to_do(tmp_path, monkeypatch):
    import seq2seq.data as data

    monkeypatch.delenv("SEQ2SEQ_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "multi30k")
    with pytest.raises(DataNotFoundError, match="could not be downloaded") as info:
        find_split_files("val", ("de", "en"), url_template="http://127.0.0.1:9/{name}")
    assert "SEQ2SEQ_DATA_DIR" in str(info.value)
    assert not any((tmp_path / "multi30k").glob("*")) if (tmp_path / "multi30k").exists() else True


def test_environment_variable_points_at_the_data(data_dir, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(data_dir))
    split = load_split("val", "de", "en")
    assert len(split) == lines(data_dir / "val.de.gz") == lines(data_dir / "val.en.gz") > 0
    assert split.src_tokens[0] == Tokenizer("de")(split.src_text[0])


@pytest.mark.parametrize("pair", [("de", "en"), ("en", "fr"), ("cs", "de")])
def test_any_language_pair(data_dir, pair):
    split = load_split("test_2016_flickr", *pair, data_dir=data_dir)
    assert len(split) == lines(data_dir / f"test_2016_flickr.{pair[0]}.gz") and split.src_tokens[0] and split.trg_tokens[0]


def test_tokenization_is_cached(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQ2SEQ_CACHE_DIR", str(tmp_path))
    split = load_split("val", "de", "en", data_dir)
    assert not list(tmp_path.iterdir())                 # tokens are made on first use
    first = split.src_tokens, split.trg_tokens
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert len(cached) == 2 and all(name.startswith("val.") for name in cached)
    import seq2seq.data as data

    monkeypatch.setattr(data, "tokenizer", None)  # a second load must not tokenize again
    again = load_split("val", "de", "en", data_dir)
    assert (again.src_tokens, again.trg_tokens) == first and len(again) == lines(data_dir / "val.de.gz")


def test_batches_are_length_bucketed_deterministic_and_complete(data_dir):
    split = load_split("train", "de", "en", data_dir)  # 400 pairs: 36 batches of <= 200 tokens
    src_vocab, trg_vocab = Vocab.build(split.src_tokens), Vocab.build(split.trg_tokens)
    pairs = encode_pairs(split, src_vocab, trg_vocab)
    epoch0 = [b.index for b in bucketed_batches(pairs, 200, shuffle=True, seed=1, epoch=0)]
    assert epoch0 == [b.index for b in bucketed_batches(pairs, 200, shuffle=True, seed=1, epoch=0)]
    assert epoch0 != [b.index for b in bucketed_batches(pairs, 200, shuffle=True, seed=1, epoch=1)]
    assert sorted(i for b in epoch0 for i in b) == list(range(len(split)))
    real = padded = 0
    for b in bucketed_batches(pairs, 200, shuffle=True, seed=1, epoch=0):
        assert b.src.numel() <= 200 or len(b.index) == 1
        real += int((b.src != PAD_IDX).sum())
        padded += b.src.numel()
    assert real / padded > 0.9  # little padding


# ---------------------------------------------------------------------------- the full set


def test_the_full_set_has_its_published_sizes(full_data_dir):
    for split, size in FULL_SIZES.items():
        for lang in LANGUAGES:
            if (full_data_dir / f"{split}.{lang}.gz").is_file() or lang in ("de", "en"):
                assert lines(full_data_dir / f"{split}.{lang}.gz") == size, (split, lang)
    assert len(load_split("val", "de", "en", full_data_dir)) == FULL_SIZES["val"]



def test_the_shipped_slice_is_the_first_lines_of_the_full_set(full_data_dir):
    from conftest import SLICE, SLICE_DIR

    for split, n in SLICE.items():
        for lang in LANGUAGES:
            if (full_data_dir / f"{split}.{lang}.gz").is_file():
                assert read_lines(SLICE_DIR / f"{split}.{lang}.gz") == read_lines(full_data_dir / f"{split}.{lang}.gz")[:n]


def test_a_corpus_is_two_files_or_one_tsv_plain_or_gzipped(tmp_path):
    import gzip

    from seq2seq.data import CorpusError, load_corpus, read_parallel

    (tmp_path / "a.de").write_text("Ein Hund.\nZwei Katzen.\n", encoding="utf-8")
    with gzip.open(tmp_path / "a.en.gz", "wt", encoding="utf-8") as f:
        f.write("A dog.\nTwo cats.\n")
    (tmp_path / "a.tsv").write_text("Ein Hund.\tA dog.\nZwei Katzen.\tTwo cats.\textra column\n", encoding="utf-8")
    pair = (["Ein Hund.", "Zwei Katzen."], ["A dog.", "Two cats."])
    assert read_parallel([tmp_path / "a.de", tmp_path / "a.en.gz"]) == pair
    assert read_parallel([tmp_path / "a.tsv"]) == pair
    split = load_corpus("dev", [tmp_path / "a.tsv"], "de", "en")
    assert split.trg_tokens == [["a", "dog", "."], ["two", "cats", "."]] and split.name == "dev"
    (tmp_path / "bad.tsv").write_text("Ein Hund.\tA dog.\nZwei Katzen.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 2"):
        read_parallel([tmp_path / "bad.tsv"])
    with pytest.raises(DataNotFoundError):
        read_parallel([tmp_path / "missing.tsv"])


def test_the_batch_order_is_the_one_the_shipped_checkpoints_were_trained_in(data_dir):
    """Pinned: ``bucket`` cuts and shuffles as the code that trained the shipped checkpoints did (Python's
    random with seed * 100,003 + epoch), so `python train.py --arch ARCH` still reproduces them."""
    import hashlib
    import json

    split = load_split("train", "de", "en", data_dir)
    pairs = encode_pairs(split, Vocab.build(split.src_tokens), Vocab.build(split.trg_tokens))
    digests = [hashlib.sha1(json.dumps(bucket(pairs, 200, True, 1, epoch)).encode()).hexdigest()[:16] for epoch in (0, 1)]
    assert digests == ["6aa719ee33962a48", "f3b5b489a06c5251"]
