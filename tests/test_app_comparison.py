"""The app's whole-test-set comparison (seq2seq.explorer.comparison and comparison_ui): read from the files
``python -m seq2seq.compare`` writes, on tiny checkpoints and the Multi30k slice; the Leaderboard's note when
they are missing, the Compare list, and a sentence clicked into Compare and Inspect (callbacks called directly;
tests/test_browser_comparison.py clicks them in Chromium)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr
import pytest

from seq2seq import ARCHITECTURES
from seq2seq.data import read_lines

COMPARED = ("bahdanau", "transformer")


def compared_root(checkpoint_root: Path, data_dir: Path, dest: Path, archs=COMPARED) -> Path:
    """A copy of the tiny checkpoints where ``archs`` have test outputs and significance (the slice's 100 test
    sentences, beam 5), written by the command itself."""
    from seq2seq import compare

    shutil.copytree(checkpoint_root, dest)
    assert compare.main([*(str(dest / a) for a in archs), "--data-dir", str(data_dir), "--no-alignments",
                         "--bootstrap", "100", "--trials", "200"]) == 0
    return dest


@pytest.fixture(scope="module")
def root(checkpoint_root, data_dir, tmp_path_factory):
    return compared_root(checkpoint_root, data_dir, tmp_path_factory.mktemp("compared") / "checkpoints")


@pytest.fixture
def with_data(monkeypatch, data_dir):
    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture
def comparison(root, with_data):
    from seq2seq.explorer.comparison import TestComparison
    from seq2seq.explorer.service import ModelSet

    return TestComparison.load(ModelSet(root, device="cpu"))


def test_the_outputs_of_the_served_models_are_read_and_the_rest_named(comparison):
    assert set(comparison.outputs) == set(COMPARED)
    assert {n for n, _ in comparison.problems} == set(ARCHITECTURES) - set(COMPARED)
    assert all(why == "no test outputs" for _, why in comparison.problems)
    note = comparison.note()
    assert "Left out" in note and "python -m seq2seq.compare checkpoints" in note and "lstm" in note
    assert comparison.significance is not None and comparison.sources is not None
    [row] = comparison.pair_rows()["data"]
    assert row[0] in ("bahdanau − transformer", "transformer − bahdanau") and len(row) == 8
    assert "Significant in BLEU: 0 of 1 pair." in comparison.significance_summary()      # random weights: +0.00


def test_the_list_ranks_the_sentences_and_shows_their_text(comparison, data_dir):
    a, b = COMPARED
    frame, index, line = comparison.differences(a, b, "chrf")
    sources = read_lines(data_dir / "test_2016_flickr.de.gz")
    references = read_lines(data_dir / "test_2016_flickr.en.gz")
    oa, ob = comparison.outputs[a], comparison.outputs[b]
    deltas = [x - y for x, y in zip(oa["sentence_chrf"], ob["sentence_chrf"])]
    expected = sorted((i for i, d in enumerate(deltas) if d), key=lambda i: -abs(deltas[i]))[:len(index)]
    assert index == expected and len(index) == min(30, sum(1 for d in deltas if d))
    first = frame["data"][0]
    i = index[0]
    assert first[0] == i + 1 and first[1] == round(deltas[i], 1)
    assert first[4:] == [sources[i], oa["hypotheses"][i], ob["hypotheses"][i], references[i]]
    assert frame["headers"][5:7] == [f"A: {a}", f"B: {b}"]
    assert f"A ({a})" in line and "Click a sentence" in line
    # filters: only sentences of 10-12 German words, only those B does better
    frame, index, line = comparison.differences(a, b, "chrf", "b", 10, 12)
    assert all(10 <= oa["source_length"][i] <= 12 and deltas[i] < 0 for i in index)
    assert "10–12 source words" in line
    assert comparison.differences(a, a)[1] == [] and "two different models" in comparison.differences(a, a)[2]
    assert comparison.differences(a, "lstm")[1] == []                       # no outputs for it
    assert comparison.sentence(i) == (sources[i], references[i])


def test_without_the_data_the_list_says_why_the_german_is_missing(root, monkeypatch, tmp_path):
    from seq2seq.explorer.comparison import TestComparison
    from seq2seq.explorer.service import ModelSet

    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(tmp_path))                   # no Multi30k there
    c = TestComparison.load(ModelSet(root, device="cpu", references={}))
    assert c.sources is None and "not found" in c.data_problem
    frame, index, line = c.differences(*COMPARED, "chrf")
    assert index and "German not found" in frame["data"][0][4] and "are missing" in line
    assert c.sentence(index[0]) is None


def test_other_test_sentences_than_the_outputs_were_computed_on_are_not_shown(root, data_dir, monkeypatch, tmp_path):
    from seq2seq.explorer.comparison import TestComparison
    from seq2seq.explorer.service import ModelSet

    for lang in ("de", "en"):                    # another text under the test set's name (the slice's val)
        shutil.copy(data_dir / f"val.{lang}.gz", tmp_path / f"test_2016_flickr.{lang}.gz")
    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(tmp_path))
    c = TestComparison.load(ModelSet(root, device="cpu", references={}))
    assert c.sources is None and "not the text" in c.data_problem


def test_significance_of_other_translations_is_not_shown(root, with_data, tmp_path):
    from seq2seq.explorer.comparison import TestComparison
    from seq2seq.explorer.service import ModelSet

    copy = tmp_path / "checkpoints"
    shutil.copytree(root, copy)
    path = copy / "transformer" / "test_outputs.json"
    data = json.loads(path.read_text())
    data["hypotheses"][0] += " again"
    path.write_text(json.dumps(data))
    c = TestComparison.load(ModelSet(copy, device="cpu"))
    assert c.significance is None and "other translations of transformer" in c.significance_problem
    assert "No significance tests" in c.note() and c.pair_rows()["data"] == []


def markdown_values(demo) -> list[str]:
    return [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and isinstance(b.value, str)]


def test_the_leaderboard_says_how_to_make_the_missing_files(models):
    """The conftest checkpoints have no test outputs: the Leaderboard and the Compare tab say so, with the command."""
    import app

    demo, ui = app.build_app(models)
    notes = [v for v in markdown_values(demo) if "No per-sentence test outputs found" in v]
    assert len(notes) == 2 and all("python -m seq2seq.compare checkpoints" in v for v in notes)
    assert not [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "differences"]


def test_a_clicked_sentence_opens_in_compare_and_inspect(root, with_data):
    import app
    from seq2seq.explorer.service import ModelSet

    models = ModelSet(root, device="cpu")
    demo, ui = app.build_app(models)
    panel, i = ui.differences, ui.inspector
    a, b = COMPARED
    frame, index, _ = ui.comparison.differences(a, b, "chrf")
    row = frame["data"][0]
    event = gr.SelectData(panel.table, {"index": [0, 4], "value": row[4], "row_value": row})
    out = panel.on_pick(a, b, "chrf", "either", 1, 40, -1, event)
    source, reference = ui.comparison.sentence(index[0])
    assert out[i.c_text] == source and out[i.c_along] == "reference" and out[i.text] == source
    assert out[i.reference] == reference and out[i.name] == a
    assert f"sentence {index[0] + 1}" in out[i.status] and "Inspect" in out[i.status]
    assert "along the reference" in out[i.c_status] and out[i.c_state][1] == "reference"
    from seq2seq.explorer.service import output_tokens

    assert out[i.c_state][3].rows == output_tokens(models.translators[a], reference) + ["<eos>"]  # along the reference
    assert out[i.c_plot_a] is not None and out[i.c_diff] is not None
    filtered = panel.on_filter(a, b, "chrf", "a", 1, 40, -1)
    assert "where A is better" in filtered[1]


def test_the_space_and_the_model_repository_carry_the_comparison_files(root):
    from seq2seq.tools import hub

    assert hub.is_space_file("checkpoints/significance.json") and hub.is_space_file("checkpoints/gru/test_outputs.json")
    assert not hub.is_space_file("checkpoints/gru/outputs_val_beam1.json")       # another split stays home
    assert "transformer/test_outputs.json" in hub.model_repo_files(root)
    assert "checkpoints/significance.json" in hub.candidate_files(root.parent)


def test_every_event_shows_its_progress_where_the_person_looks_and_on_few_figures(root, with_data, vocabs, tmp_path):
    """Gradio's page keeps a loading status for every component an event shows progress on, and at every message of
    every later event copies each one's value, a figure's whole JSON: after a tour of the tabs with progress on all
    their outputs, each Translate took 1.65x the models' work instead of 1.33x (bench/browser.py --tour,
    docs/benchmarks.md). On the page with all six tabs and the list of differences, every event shows its progress
    on at most three components, two of them figures, never a Translate card's map or a Family member's."""
    import gradio as gr

    import app
    from conftest import tiny_family
    from seq2seq.explorer.service import ModelSet

    family = tiny_family(tmp_path / "family", vocabs)
    demo, ui = app.build_app(ModelSet(root, device="cpu"), ModelSet(family, device="cpu", references={}))
    fns = {b.fn for b in demo.fns.values()}
    assert {ui.on_family_opened, ui.inspector.on_inspect_opened, ui.inspector.on_compare_opened,
            ui.differences.on_pick, ui.differences.on_filter} <= fns          # every tab and the list are here
    many = {c.plot for c in ui.cards.values()} | {plot for _, plot, _ in ui.f_cards.values()}
    for b in demo.fns.values():
        shown = b.show_progress_on or [o for o in b.outputs if not isinstance(o, gr.State)]
        assert len(shown) <= 3, (b.name, len(shown))
        assert sum(isinstance(c, gr.Plot) for c in shown) <= 2, b.name
        assert not set(shown) & many, b.name

