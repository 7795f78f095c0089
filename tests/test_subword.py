"""SentencePiece vocabularies: training, the checkpoint round trip, lossless text, the merge of pieces
into words, and translation without <unk>."""

from __future__ import annotations

import unicodedata

import pytest
import torch

from seq2seq import build_model, save_checkpoint
from seq2seq.checkpoint import CheckpointError, load_model
from seq2seq.data import (SPECIALS, UNK_IDX, tokenizer, SubwordTokenizer, Vocab, encode_pairs, load_split, merge_map,
                          merge_pieces, train_sentencepiece)
from seq2seq.translator import load_checkpoint

from conftest import TINY


def test_the_vocabulary_is_the_piece_list_with_the_projects_specials(sp):
    vocab = Vocab.from_sentencepiece(sp)
    assert tuple(vocab.itos[:4]) == SPECIALS and vocab.subword and len(vocab) == len(sp.pieces())


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def test_encode_decode_is_lossless_on_the_test_sentences(sp, data_dir):
    test = load_split("test_2016_flickr", "de", "en", data_dir)
    for text in [*test.src_text, *test.trg_text, "Ein Mann 😀 über Äpfel – «naïve» ½ café"]:
        pieces = sp(text)
        assert "<unk>" not in pieces
        assert _normal(sp.detokenize(pieces)) == _normal(text)   # case-folded, as the word tokenizer lowercases


def test_a_checkpoint_round_trip_keeps_the_tokenizer(sp, subword_checkpoint):
    model, src_vocab, trg_vocab, config = load_model(subword_checkpoint)
    assert config["tokenizer"] == {"type": "sentencepiece", "lowercase": True, "joint": True}
    assert src_vocab.tokenizer.model_proto == sp.model_proto and trg_vocab.itos == sp.pieces()
    translator = load_checkpoint(subword_checkpoint)
    assert translator.tokenize("Zwei Hunde spielen im Schnee.")[0] == sp("Zwei Hunde spielen im Schnee.")


def test_a_missing_or_foreign_tokenizer_is_a_clear_error(subword_checkpoint, tmp_path, sp):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(subword_checkpoint, broken)
    (broken / "trg_spm.model").unlink()
    with pytest.raises(CheckpointError, match="trg_spm.model is missing"):
        load_model(broken)
    (broken / "trg_spm.model").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a SentencePiece model"):
        load_model(broken)


def test_an_emoji_only_or_unknown_input_translates_without_unk(subword_checkpoint):
    translator = load_checkpoint(subword_checkpoint)
    for text in ("😀 🚲", "Quetzalcoatlus ŋ"):
        tokens, _ = translator.tokenize(text)
        assert tokens and UNK_IDX not in translator.src_vocab.encode(tokens)
        [t] = translator.translate([text], max_len=8)
        assert "<unk>" not in t.raw_tokens and t.tokens == t.raw_tokens          # nothing to replace
        assert t.text == translator.trg_tokenizer.detokenize(t.tokens)
        # the project's metric reads spaCy's words of the text, as for every model, never the pieces
        assert translator.words(t) == tokenizer("en")(t.text)


def test_training_pairs_are_encoded_through_sentencepiece(sp, data_dir):
    split = load_split("val", "de", "en", data_dir)
    vocab = Vocab.from_sentencepiece(sp)
    pairs = encode_pairs(split, vocab, vocab)
    assert vocab.decode(pairs.source(0)) == sp(split.src_text[0])
    assert vocab.decode(pairs.target(0)[1:-1]) == sp(split.trg_text[0])


# ---------------------------------------------------------------------------- merging pieces into words


def test_merge_pieces_into_whitespace_words_by_hand():
    pieces = ["▁ein", "▁orange", "farb", "enen", "▁hut", ".", "<eos>"]
    assert merge_pieces(pieces) == [("ein", [0]), ("orangefarbenen", [1, 2, 3]), ("hut.", [4, 5]), ("<eos>", [6])]


def test_merge_pieces_onto_given_words_by_hand():
    # spaCy splits "hut." into "hut" and "."; a piece that spells "t." joins the two words into one group.
    assert merge_pieces(["▁ein", "▁orange", "farbenen", "▁hu", "t", "."], ["ein", "orangefarbenen", "hut", "."]) == [
        ("ein", [0]), ("orangefarbenen", [1, 2]), ("hut", [3, 4]), (".", [5])]
    assert merge_pieces(["▁Ein", "▁Hu", "t."], ["ein", "hut", "."]) == [("ein", [0]), ("hut.", [1, 2])]
    # byte pieces spell one emoji; case and NFKC forms are matched
    emoji = ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]
    assert merge_pieces(["▁", *emoji, "▁ﬁsh"], ["😀", "Fish"]) == [("😀", [0, 1, 2, 3, 4]), ("Fish", [5])]


def test_merge_map_sums_columns_and_averages_rows_by_hand():
    weights = torch.tensor([[0.1, 0.2, 0.7],
                            [0.5, 0.25, 0.25],
                            [0.0, 1.0, 0.0]])
    merged = merge_map(weights, rows=[[0], [1, 2]], cols=[[0, 1], [2]])
    assert torch.allclose(merged, torch.tensor([[0.3, 0.7],
                                                [(0.75 + 1.0) / 2, (0.25 + 0.0) / 2]]))
    assert torch.allclose(merged.sum(dim=1), torch.ones(2))   # rows stay distributions


# ---------------------------------------------------------------------------- the app


def test_the_app_shows_a_subword_model_over_pieces_and_over_words(subword_checkpoint, checkpoint_root, tmp_path):
    import shutil

    from seq2seq.explorer.figures import WORDS_NOTE
    from seq2seq.explorer.cards import card_figures
    from seq2seq.explorer.service import ModelSet, translate_all

    root = tmp_path / "checkpoints"
    shutil.copytree(checkpoint_root / "gru", root / "gru")            # a word model beside it
    shutil.copytree(subword_checkpoint, root / "transformer")
    models = ModelSet(root, device="cpu", references={})
    assert not models.failures and models.translators["transformer"].subword
    results, _, messages = translate_all(models, "Ein Mann mit einem orangefarbenen Hut.", ["gru", "transformer"],
                                         max_len=12)
    assert not messages
    t = results["transformer"].translation
    pieces = card_figures(models, results["transformer"], "cross", None, None, "pieces")
    words = card_figures(models, results["transformer"], "cross", None, None, "words")
    assert pieces.view.columns == t.src_tokens and pieces.view.rows == t.output_labels
    assert words.view.columns == ["ein", "mann", "mit", "einem", "orangefarbenen", "hut", "."]   # spaCy's words
    assert WORDS_NOTE in words.title and WORDS_NOTE not in pieces.title
    # a word's column holds its pieces' mass: each row still sums to one
    assert torch.allclose(words.shown.sum(dim=1), torch.ones(len(words.view.rows)), atol=1e-4)
    translator = models.translators["transformer"]
    assert words.view.rows == [w for w, _ in merge_pieces(t.output_labels, translator.words(t))]
    for kind in ("encoder_self", "decoder_self"):
        self_words = card_figures(models, results["transformer"], kind, None, None, "words")
        assert torch.allclose(self_words.shown.sum(dim=1), torch.ones(len(self_words.view.rows)), atol=1e-4)
    # the switch does nothing to a word model
    gru = card_figures(models, results["gru"], "saliency", None, None, "words")
    assert WORDS_NOTE not in gru.title


def test_piece_word_index_and_onto_words_by_hand():
    from seq2seq.data import onto_words, piece_word_index

    pieces = ["▁ein", "▁orange", "farb", "enen", "▁hu", "t.", "<eos>"]
    words = ["ein", "orangefarbenen", "hut", "."]
    assert piece_word_index(pieces, words) == [0, 1, 1, 1, 2, 2, None]   # "t." starts in "hut"; "." has none
    weights = torch.tensor([[0.5, 0.5, 0.0],
                            [0.0, 0.2, 0.8],
                            [1.0, 0.0, 0.0]])
    # rows: pieces of 2 words (piece 2 belongs to none); columns: pieces of 3 words, the middle word has none
    merged = onto_words(weights, [1, 1, None], 2, [0, 2, 2], 3)
    assert torch.allclose(merged, torch.tensor([[0.0, 0.0, 0.0],
                                                [0.25, 0.0, 0.75]]))


def test_references_and_typed_outputs_become_pieces(subword_checkpoint):
    from seq2seq.analysis.inspection import target_tokens

    translator = load_checkpoint(subword_checkpoint)
    ids = translator.target_ids(["a", "man", "in", "an", "orange", "hat", "."])
    assert UNK_IDX not in ids and translator.trg_vocab.decode(ids) == translator.trg_tokenizer("A man in an orange hat.")
    assert target_tokens(translator, "two dogs <eos>") == [*translator.trg_tokenizer("two dogs"), "<eos>"]


def test_aer_of_a_subword_model_is_computed_on_words(subword_checkpoint, monkeypatch):
    from seq2seq.analysis import alignment

    translator = load_checkpoint(subword_checkpoint)
    shapes = []
    real = alignment.hard_alignment
    monkeypatch.setattr(alignment, "hard_alignment", lambda w, n, shifted=False: shapes.append((tuple(w.shape), n))
                        or real(w, n, shifted))
    src, ref = "Ein Mann mit einem orangefarbenen Hut.", ["a", "man", "in", "an", "orange", "hat", "."]
    result = alignment.corpus_alignment_error(translator, [src], [ref], [{(0, 0), (1, 1), (5, 5)}], kinds=("cross",))
    # one row per reference word and one for <eos>, one column per source word (7 spaCy tokens)
    assert set(shapes) == {((8, 7), 7)}
    assert 0.0 <= result["cross"]["argmax"] <= 1.0


def test_the_hub_uploads_a_subword_checkpoints_tokenizer(subword_checkpoint, tmp_path):
    import shutil

    from seq2seq.tools import hub

    files = hub.model_repo_files(subword_checkpoint)
    assert {"transformer/src_spm.model", "transformer/trg_spm.model"} <= files.keys()
    assert hub.is_space_file("checkpoints/transformer/src_spm.model")
    broken = tmp_path / "transformer"
    shutil.copytree(subword_checkpoint, broken)
    (broken / "src_spm.model").unlink()
    with pytest.raises(hub.HubError, match="src_spm.model missing"):
        hub.model_repo_files(broken)


def test_compare_puts_a_subword_model_beside_a_word_model_in_words(subword_checkpoint, checkpoint_root, tmp_path):
    import shutil

    from seq2seq.explorer.service import ModelSet, compare

    root = tmp_path / "checkpoints"
    shutil.copytree(checkpoint_root / "bahdanau", root / "bahdanau")
    shutil.copytree(subword_checkpoint, root / "transformer")
    text = "ein mann mit einem orangefarbenen hut ."                   # words the tiny word model knows
    models = ModelSet(root, device="cpu", references={"ein mann mit einem orangefarbenen hut .": "a man in an orange hat ."})
    for along in ("a", "b", "reference"):
        c, tokens = compare(models, text, "transformer", "bahdanau", along)
        assert c.columns == ["ein", "mann", "mit", "einem", "orangefarbenen", "hut", "."]
        assert c.rows == [*tokens, "<eos>"] and c.a.shape == c.b.shape == (len(c.rows), len(c.columns))
        assert torch.allclose(c.a.sum(dim=1), torch.ones(len(c.rows)), atol=1e-4)   # rows stay distributions
    assert tokens == ["a", "man", "in", "an", "orange", "hat", "."]
