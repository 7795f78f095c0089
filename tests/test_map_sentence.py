"""A plain sentence before the numbers under every map (issue 23): one line of what the map shows for this
sentence, computed from its statistics, then the numbers folded beneath (<details>), each saying which way is
better or what high means; a flat map's monotonicity comes with a note rather than as praise.

Bugs planted in a scratch copy to prove these tests (each made some fail): the flat-map note dropped; a flat map
read as a sharp one; the order clause ignoring monotonicity; the sentence left out of the page."""

from __future__ import annotations

import re

import pytest
import torch

from seq2seq.explorer import api
from seq2seq.explorer.text import faithfulness_line, map_sentence, map_stats_markdown

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
COLUMNS = ["ein", "mann", "mit", "einem", "hut", "."]


def stats(w: torch.Tensor, kind: str = "cross", columns=COLUMNS) -> dict:
    return api.map_statistics(kind, w, columns)


def sentence_of(markdown: str) -> str:
    """The plain sentence: what stands before the folded numbers."""
    before, _, _ = markdown.partition("<details")
    return re.sub(r"<[^>]+>", "", before).strip()


def test_a_word_for_word_map_reads_one_word_each_in_order():
    assert map_sentence(stats(torch.eye(6)), "cross", COLUMNS) == \
        "Each English word looks mostly at one German word, in order."


def test_a_flat_map_reads_as_barely_used_and_its_monotonicity_gets_a_note():
    flat = torch.full((5, 6), 1 / 6) + torch.linspace(0, 1e-3, 6)       # even, but its argmax never moves left
    s = stats(flat)
    assert s["monotonicity"] == 1.0
    assert map_sentence(s, "cross", COLUMNS) == \
        "Attention spreads almost evenly over the sentence: this model barely uses it."
    text = map_stats_markdown(s, "cross-attention", [str(i) for i in range(5)], COLUMNS)
    assert "monotonicity **1.00**" in text and "means little here: the map is almost flat" in text
    sharp = map_stats_markdown(stats(torch.eye(6)), "cross-attention", COLUMNS, COLUMNS)
    assert "means little" not in sharp                                          # no note for a sharp map
    assert "no German word stands out" in map_sentence(stats(flat, "saliency"), "saliency", COLUMNS)


def test_a_reversed_map_reads_out_of_order():
    assert map_sentence(stats(torch.eye(6).flip(0)), "cross", COLUMNS) == \
        "Each English word looks mostly at one German word, out of the sentence's order."


def test_weight_piled_on_the_last_word_is_said():
    w = torch.eye(6) * 0.3
    w[:, -1] += 0.7
    line = map_sentence(stats(w), "cross", COLUMNS)
    assert "Most of the weight (" in line and "falls on the end of the sentence, “.”" in line


def test_spread_rows_read_as_a_few_words_and_self_attention_speaks_of_its_own_words():
    w = torch.eye(6) + torch.eye(6).roll(1, 1) + torch.eye(6).roll(-1, 1)   # three words a row, along the diagonal
    assert map_sentence(stats(w), "cross", COLUMNS).startswith("Each English word looks at a few German words at once")
    enc = map_sentence(stats(torch.eye(6)), "encoder_self", COLUMNS, "encoder")
    assert enc == "Each German word looks mostly at one German word, near itself."
    dec = map_sentence(stats(w, columns=["<sos>", *COLUMNS[:5]]), "decoder_self", ["<sos>", *COLUMNS[:5]], "decoder")
    assert "words written before it" in dec


def test_the_numbers_are_folded_beneath_and_each_says_which_way_is_better():
    text = map_stats_markdown(stats(torch.eye(6)), "cross-attention", COLUMNS, COLUMNS)
    sentence, _, numbers = text.partition("<details")
    assert "Each English word" in sentence and "entropy" not in sentence and "diagonality" not in sentence
    assert numbers.rstrip().endswith("</details>") and "<summary>" in numbers
    assert "lower is sharper" in numbers and "1: word for word, in order" in numbers and "1: in order" in numbers
    assert "high: much looked at" in numbers
    scores = {"cross": {"comprehensiveness": {"20%": 0.4}, "sufficiency": {"20%": 0.3}},
              "random": {"comprehensiveness": {"20%": 0.1}, "sufficiency": {"20%": 0.5}}}
    line = faithfulness_line({"faithfulness": {"deletion": {"sentences": 500, "scores": scores}}}, "cross")
    assert "comprehensiveness **0.400** (higher is better" in line and "(lower is better)" in line


def test_every_map_on_the_page_opens_with_its_sentence(ui):
    out = ui.on_translate(SENTENCE, ["lstm", "bahdanau", "transformer"], "greedy", 5, 1.0, 0)
    for name in ("lstm", "bahdanau", "transformer"):
        text = out[ui.cards[name].map_stats]
        assert sentence_of(text).startswith("Each English word") or sentence_of(text).startswith("Attention")
        assert text.index("map-sentence") < text.index("<details")
    for kind in ("cross", "decoder_self", "encoder_self", "value_weighted", "saliency"):
        *_, stats_md = ui.on_view("transformer", out[ui.state], kind, None, None)
        assert sentence_of(stats_md).endswith("."), kind
    i = ui.inspector
    out = i.on_inspect(SENTENCE, "gru", 3, 1.0, 0)
    for box in (i.steps_stats, i.free_stats):
        assert sentence_of(out[box]).startswith("Each English word depends"), out[box]


def test_an_attribution_map_opens_with_what_raised_each_word(ui):
    from seq2seq.analysis.attribution import Attribution
    from seq2seq.explorer.text import attribution_markdown

    a = Attribution(torch.eye(3) - 0.1, None, [0, 1, 2], torch.zeros(3), torch.zeros(3))
    text = attribution_markdown("integrated_gradients", a, ["a", "b", "c"], None, ["x", "y", "z"])
    assert sentence_of(text) == "What raised each English word came mostly from one German word, in order."
    assert text.index("map-sentence") < text.index("<details") < text.index("raised the words")
    out = ui.on_translate(SENTENCE, ["gru"], "greedy", 5, 1.0, 0)
    *_, stats_md = ui.on_view("gru", out[ui.state], "integrated_gradients", None, None)
    assert sentence_of(stats_md).startswith("What raised each English word came")


def test_a_map_of_what_words_depend_on_is_not_called_attention():
    """ALTI+, saliency and the attributions say what each word depended on; only attention "looks"."""
    for kind in ("alti", "saliency", "integrated_gradients"):
        assert map_sentence(stats(torch.eye(6), kind), kind, COLUMNS).startswith("Each English word depends mostly on one"), kind
        flat = map_sentence(stats(torch.full((6, 6), 1 / 6), kind), kind, COLUMNS)
        assert "Attention" not in flat and flat.startswith("Each English word depends on much of the sentence"), kind
    assert map_sentence(stats(torch.eye(6)), "cross", COLUMNS).startswith("Each English word looks mostly at one")
