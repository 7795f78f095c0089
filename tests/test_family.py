"""The attention family: its presets, its table, and the Family tab (library and a real browser)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import serve_app, tiny_family
from test_app_inspect import gradio_takes
from seq2seq import load_checkpoint
from seq2seq.explorer.family import MEMBERS, family_maps, member_header
from seq2seq.explorer.service import ModelSet, RequestError
from seq2seq.models import ARCHITECTURES, build_model
from seq2seq.models.luong import FAMILY, FAMILY_SIZE, LuongConfig, family_hparams
from seq2seq.tools.report import family_table

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
# Soft members, the NTM and the hard member: three kinds of map; four, so the tab's last row is short.
MEMBERS_HERE = ("dot", "general", "ntm", "hard")


@pytest.fixture(scope="module")
def family_root(checkpoint_root, vocabs, tmp_path_factory):
    """checkpoints/ with the six tiny architectures and family/ holding three tiny members."""
    root = tmp_path_factory.mktemp("with_family")
    for arch in ARCHITECTURES:
        shutil.copytree(checkpoint_root / arch, root / arch)
    tiny_family(root / "family", vocabs, MEMBERS_HERE, lambda i: {
        "test": {"greedy": {"bleu": 30.0 + i}, "beam5": {"bleu": 31.5 + i}},
        "map_statistics": {"mean_entropy": 1.0 + i, "diagonality": 0.5, "monotonicity": 0.75}})
    return root


def test_every_family_member_is_a_luong_preset_of_at_most_4m_parameters():
    assert set(MEMBERS) == set(FAMILY)
    for name in FAMILY:
        model = build_model("luong", 7851, 5892, **family_hparams(name))      # the shipped vocabulary sizes
        assert model.num_parameters() <= 4_000_000, name
        assert model.config.emb_dim == FAMILY_SIZE["emb_dim"] and model.config.hidden_dim == FAMILY_SIZE["hidden_dim"]
    assert family_hparams("local_p")["local"] and family_hparams("hard")["hard"]
    assert family_hparams("hard")["score"] == "general"      # the hard member's soft twin is "general"
    with pytest.raises(ValueError, match="unknown family member"):
        family_hparams("nope")


def test_family_maps_run_every_member_on_one_sentence(family_root):
    family = ModelSet(family_root / "family", device="cpu", references={})
    maps, reference, messages = family_maps(family, SENTENCE)
    assert [m.name for m in maps] == list(MEMBERS_HERE) and reference is None and not messages
    for m in maps:
        t = m.result.translation
        expected = load_checkpoint(family_root / "family" / m.name).translate([SENTENCE])[0]
        assert t.tokens == expected.tokens
        assert m.weights.shape == (len(t.output_labels), len(t.src_tokens))
        torch.testing.assert_close(m.weights.sum(-1), torch.ones(len(t.output_labels)))
    hard = next(m for m in maps if m.name == "hard")
    assert ((hard.weights == 0) | (hard.weights == 1)).all()          # one source position per step
    with pytest.raises(RequestError, match="Empty input"):
        family_maps(family, "  ")


def test_family_tab_opens_on_its_example_and_a_refusal_clears_the_cards(family_root):
    import app

    models = ModelSet(family_root, device="cpu", references={})
    demo, ui = app.build_app(models, ModelSet(family_root / "family", device="cpu", references={}))
    opened = ui.on_family_opened(False, SENTENCE)                    # first shown: every member runs the example
    assert opened[ui.f_shown] is True and all(opened[plot] is not None for _, plot, _ in ui.f_cards.values())
    again = ui.on_family_opened(True, SENTENCE)                       # shown again: what is there stays
    gradio_takes(demo, ui.on_family_opened, again)
    gradio_takes(demo, ui.on_family_opened, opened)
    refused = ui.on_family("  ")
    assert "Empty input" in refused[ui.f_status]
    assert all(refused[plot] is None and refused[text] == "" for text, plot, _ in ui.f_cards.values())


def test_member_header_names_the_score_its_formula_and_test_bleu():
    header = member_header("scaled_dot", {"test": {"beam5": {"bleu": 35.04}}})
    assert "scaled dot product" in header and "BLEU 35.0" in header and r"\sqrt{n}" in header
    assert "Vaswani" in header and "AER" not in header                     # never measured: not said
    measured = {"faithfulness": {"deletion": {"scores": {"cross": {"comprehensiveness": {"20%": 0.4712}}}},
                                 "alignment": {"aer": {"cross": {"argmax": 0.2897}}}}}
    assert "AER 0.29 · comprehensiveness 0.47" in member_header("dot", measured)


def test_family_table_in_the_order_of_the_family_with_formulas(family_root):
    lines = family_table(family_root / "family", measure=False).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == [f"`{n}`" for n in MEMBERS_HERE]
    i = MEMBERS_HERE.index("ntm")                      # its scores are set by its index in family_root
    ntm = [c.strip() for c in lines[2 + i].strip("|").split("|")]
    assert "interpolate" in ntm[1] and ntm[3:7] == [f"{30 + i:.2f}", f"{31.5 + i:.2f}", f"{1 + i:.2f}", "0.50"]


def test_family_tab_in_a_browser(family_root, tmp_path):
    from test_browser import ARGS, CHROMIUM, require_browser

    sync_api = require_browser()
    with serve_app(family_root, tmp_path / "app.log", {"OMP_NUM_THREADS": "1"}) as (_, url):
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#translate-button", timeout=60_000)
            page.get_by_role("tab", name="Family").click()           # opens on its example, unasked
            page.wait_for_selector(f"#family-{MEMBERS_HERE[-1]} .js-plotly-plot .xtick text", timeout=60_000)
            page.fill("#family-text textarea", SENTENCE)
            page.click("#family-button")
            translations = {name: load_checkpoint(family_root / "family" / name).translate([SENTENCE])[0]
                            for name in MEMBERS_HERE}
            try:
                for name, t in translations.items():
                    page.wait_for_function("([sel, want]) => JSON.stringify([...document.querySelectorAll(sel)]"
                                           ".map(e => e.textContent)) === JSON.stringify(want)",
                                           arg=[f"#family-{name} .js-plotly-plot .xtick text", t.src_tokens],
                                           timeout=60_000)
            finally:
                page.screenshot(path=str(tmp_path / "family.png"), full_page=True)
            for name, t in translations.items():
                card = page.query_selector(f"#family-{name}")
                assert MEMBERS[name].title in card.inner_text() and card.query_selector(".katex"), name
                assert t.text in card.inner_text()
            widths = page.eval_on_selector_all("[id^='family-'].model-card", "els => els.map(e => e.offsetWidth)")
            assert len(widths) == 4 and max(widths) <= 1.1 * min(widths), f"the short last row stretched: {widths}"
            browser.close()
    log = (tmp_path / "app.log").read_text()
    assert "the attention family: dot, general, ntm, hard" in log
    assert json.loads((family_root / "family" / "ntm" / "metrics.json").read_text())["family"] == "ntm"


ROOT = Path(__file__).resolve().parent.parent
SHIPPED_FAMILY = sorted(p for p in (ROOT / "checkpoints" / "family").glob("*") if (p / "metrics.json").is_file())


@pytest.mark.skipif(not SHIPPED_FAMILY, reason="no family checkpoint is committed")
def test_shipped_family_members_were_trained_by_train_py_family(monkeypatch):
    """`python train.py --family NAME` reproduces each shipped member: one recipe, the member's preset."""
    monkeypatch.syspath_prepend(str(ROOT))
    import train

    for directory in SHIPPED_FAMILY:
        name = directory.name
        config = json.loads((directory / "config.json").read_text())
        metrics = json.loads((directory / "metrics.json").read_text())
        assert metrics["command"] == f"python train.py --family {name}" and metrics["family"] == name
        default = train.recipe_for("luong", train.parse_args(["--family", name]), name)
        assert {k: v for k, v in metrics["recipe"].items() if k != "hparams"} == \
            {k: v for k, v in default.items() if k != "hparams"}, name
        assert config["hparams"] == dataclasses.asdict(LuongConfig(**family_hparams(name))), name
        assert config["parameters"] <= 4_000_000, name
        assert metrics["test"]["beam5"]["bleu"] > 0 and metrics["val_bleu"] > 0


def test_all_tracked_checkpoints_fit_96_mb():
    files = [p for p in (ROOT / "checkpoints").rglob("*") if p.is_file() and "resume" not in p.parts]
    assert sum(p.stat().st_size for p in files) <= 96_000_000


def test_family_cards_mark_copied_words_and_say_when_no_word_is_known(family_root, monkeypatch):
    """Issue 23 on the Family tab: a word copied from the source (the model wrote <unk>) is underlined and its row
    marked; an input with no known word gets the message on every member's card instead of a translation."""
    import app
    from seq2seq.explorer.figures import COPIED_MARK
    from seq2seq.translator import Translator

    models = ModelSet(family_root, device="cpu", references={})
    demo, ui = app.build_app(models, ModelSet(family_root / "family", device="cpu", references={}))
    out = ui.on_family("😀 🚲")
    for name, (text, plot, stats) in ui.f_cards.items():
        assert "nothing to translate" in out[text] and "nothing to translate" in out[plot].layout.annotations[0].text
        assert out[stats] == ""
    translate = Translator.translate

    def writes_unk_first(self, *args, **kwargs):     # as if each member had written <unk> first, then copied "ein"
        results = translate(self, *args, **kwargs)
        for t in results:
            t.raw_tokens[0], t.tokens[0] = "<unk>", "ein"
            t.text = self.trg_tokenizer.detokenize(t.tokens)
        return results

    monkeypatch.setattr(Translator, "translate", writes_unk_first)
    out = ui.on_family(SENTENCE)
    for name, (text, plot, stats) in ui.f_cards.items():
        marked = [n for n, label in enumerate(out[plot].layout.yaxis.ticktext) if COPIED_MARK in label]
        assert marked == [0] and out[text].count('<u class="copied"') == 1 and ">Ein</u>" in out[text]
        assert out[stats].startswith('<p class="map-sentence">')

