"""The web app: type a German sentence, watch every architecture translate it side by side,
and see where each one looks while it writes each word.

    python app.py [--checkpoints DIR | hf://USER/NAME] [--host 127.0.0.1] [--port 7860] [--share]

This file lays out the page and wires its events; what the page computes comes from the library:
``seq2seq.explorer.service`` (loading the models, translating, inspecting, comparing),
``seq2seq.explorer.api`` (the JSON of the ``translate`` and ``continue`` endpoints and of every
download), ``seq2seq.explorer.figures`` and ``seq2seq.explorer.text`` (what is drawn and written),
``seq2seq.results`` (the leaderboard). A checkpoint that fails to load is listed with the reason
and the rest are served.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from seq2seq.analysis.attribution import METHODS as ATTRIBUTIONS
from seq2seq.analysis.attribution import AttributionTooLong
from seq2seq.analysis.inspection import KIND_NAMES, kind_name
from seq2seq.analysis.lens import encoder_layers
from seq2seq.analysis.probes import PROBE_SENTENCES
from seq2seq.analysis.saliency import SaliencyTooLong
from seq2seq.explorer import api
from seq2seq.explorer.comparison import TestComparison
from seq2seq.explorer.comparison_ui import differences_panel, leaderboard_sections
from seq2seq.explorer.examples import CAPTIONS, DEMO, TEST_EXAMPLES
from seq2seq.explorer.family import family_maps, member_header, ordered
from seq2seq.explorer.figures import beam_tree, difference_heatmap, heatmap, map_view, mark_forced, scale_notes
from seq2seq.explorer.figures import contrast_figure, lens_figure, message_figure, source_prefix_figure, stepper
from seq2seq.explorer.service import (MEAN, Inspection, ModelSet, RequestError, card_figures, card_overview, compare,
                                      has_words, output_tokens, probe_figure, result_attribution, result_map,
                                      translate_all, well_formed)
from seq2seq.explorer.text import (ABOUT, COPIED_NOTE, SECTIONS, attribution_markdown, comparison_status,
                                   faithfulness_line, map_stats_markdown, marked_text, md, result_line,
                                   translation_html)
from seq2seq.papers import PAPER_ORDER
from seq2seq.results import LEADERBOARD_COLUMNS, TRUST_COLUMNS, common, frame, result_rows

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "seq2seq" / "explorer"
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
NBEST_HEADERS = ["#", "translation", "score = log-prob / length^α", "log-probability"]
QUEUE_SIZE = 64              # requests waiting at once (about a minute's wait on 2 CPUs); more are told the queue is full


def map_figure(kind: str, weights, rows: list[str], columns: list[str], title: str, copied=(), notes=()):
    """``copied``: rows whose word was copied from the source (marked); ``notes``: small lines under the title."""
    return heatmap(map_view(kind, weights, rows, columns, copied), title=title, notes=tuple(notes))


def lazy_download(label: str, elem_id: str, write, inputs: list) -> gr.Button:
    """A (hidden until shown) button whose file is written only when pressed: ``write(*inputs)`` returns its path
    (None: nothing yet). A hidden gr.DownloadButton carries the file and ``api.SAVE_FILE_JS`` saves it, as
    gr.DownloadButton's own click would; nothing is written on any other event."""
    button = gr.Button(label, visible=False, size="sm", elem_id=elem_id)
    file = gr.DownloadButton(visible=False, elem_id=f"{elem_id}-file")
    button.click(write, inputs, [file], api_visibility="private", concurrency_id="models").then(
        None, [file], None, js=api.SAVE_FILE_JS, api_visibility="private")
    return button


def stats_of(kind: str, what: str, weights, rows: list[str], columns: list[str]) -> str:
    """The statistics under a map of ``kind`` called ``what`` (inspection.kind_name)."""
    return map_stats_markdown(api.map_statistics(kind, weights, columns), what, rows, columns)


# ---------------------------------------------------------------------------- the page


def build_app(models: ModelSet, family: ModelSet | None = None) -> tuple[gr.Blocks, "UI"]:
    ui = UI(models, family)
    with gr.Blocks(title="seq2seq attention explorer") as demo:
        ui.layout()
        if models.translators:  # the page opens on the first example, translated
            demo.load(ui.on_open, None, ui.translate_outputs, api_visibility="private", concurrency_id="models")
    return demo, ui


@dataclass
class Card:
    """The components of one model's card."""

    column: gr.Column
    text: gr.HTML
    stats: gr.Markdown
    kind: gr.Dropdown
    layer: gr.Dropdown
    head: gr.Dropdown
    plot: gr.Plot
    overview_box: gr.Accordion
    overview: gr.Plot
    map_stats: gr.Markdown
    units: gr.Radio           # a subword model's map over pieces or words

    def outputs(self) -> list:
        return [self.column, self.text, self.stats, self.kind, self.layer, self.head, self.plot, self.overview_box,
                self.overview, self.map_stats, self.units]


class UI:
    """The Gradio layout and its callbacks (plain methods, so tests can call them directly)."""

    def __init__(self, models: ModelSet, family: ModelSet | None = None):
        self.models, self.family = models, family
        self.cards: dict[str, Card] = {}
        self.opening = None
        self.inspector = Inspector(models)
        self.comparison = TestComparison.load(models)   # the models on the whole test set, from seq2seq.compare's files

    def layout(self):
        m = self.models
        gr.Markdown(SECTIONS["title"])
        if m.failures:
            lines = "\n".join(f"- `{html.escape(n)}`: {html.escape(r)}" for n, r in m.failures)
            gr.Markdown(f"**Could not load {len(m.failures)} checkpoint(s)** (the others are served):\n{lines}",
                        elem_id="load-errors")
        if not m.translators:
            gr.Markdown(f"**No models found under `{html.escape(str(m.root))}`.** Train some with "
                        "`python train.py --arch all`, or start the app with `--checkpoints DIR`.")
        # wrap: on a phone the six tabs take two lines, each one tap away (Gradio's default hides four behind "⋯")
        with gr.Tabs(overflow_behavior="wrap", elem_id="main-tabs"):
            with gr.Tab("Translate"):
                self.translate_tab()
            if m.translators:
                with gr.Tab("Inspect", elem_id="inspect-tab") as tab:
                    self.inspector.inspect_tab()
                tab.select(self.inspector.on_inspect_opened, self.inspector.opened_inputs, self.inspector.inspect_out,
                           api_visibility="private", concurrency_id="models")
                with gr.Tab("Compare", elem_id="compare-tab") as tab:
                    self.inspector.compare_tab()
                    self.differences = differences_panel(self.comparison, self.inspector)
                # a tab opens on its first example, computed when first shown, not on three empty frames
                tab.select(self.inspector.on_compare_opened, self.inspector.c_opened_inputs, self.inspector.c_outputs,
                           api_visibility="private", concurrency_id="models")
            if self.family is not None and self.family.translators:
                with gr.Tab("Family", elem_id="family-tab") as tab:
                    self.family_tab()
                tab.select(self.on_family_opened, [self.f_shown, self.f_text], self.f_outputs, api_visibility="private",
                           concurrency_id="models")
            with gr.Tab("Leaderboard"):
                rows = result_rows(m.root) + result_rows([p for n, p in m.paths.items() if p and p.parent != m.root])
                hardware = common(rows, "hardware")
                gr.Markdown("Scores on Multi30k test_2016_flickr (1,000 sentences), from each checkpoint's `metrics.json`. "
                            "Speed: sentences per second while scoring the test set"
                            + (f", on {md(hardware)}." if hardware else ", on the hardware each was trained on."))
                gr.Dataframe(frame(rows, LEADERBOARD_COLUMNS), interactive=False, pinned_columns=1, elem_id="leaderboard")
                gr.Markdown(SECTIONS["trust"])
                gr.Dataframe(frame(rows, TRUST_COLUMNS), interactive=False, pinned_columns=1, elem_id="trust")
                leaderboard_sections(self.comparison)
            with gr.Tab("About"):
                gr.Markdown(ABOUT, latex_delimiters=LATEX)

        def translate(text: str, architectures: list[str] | None = None, beam_size: int = 1,
                      length_penalty: float = 1.0, max_len: int = 0) -> dict:
            try:
                return api.translate_json(m, text, architectures, beam_size, length_penalty, max_len)
            except RequestError as e:
                raise refused("translate", e) from None   # the message the API client receives

        translate.__doc__ = api.TRANSLATE_ENDPOINT
        gr.api(translate, api_name="translate", concurrency_id="models")

        def continue_(text: str, architecture: str, prefix: str = "", max_len: int = 0) -> dict:
            try:
                return api.continue_json(m, text, architecture, prefix, max_len)
            except RequestError as e:
                raise refused("continue", e) from None

        continue_.__doc__ = api.CONTINUE_ENDPOINT
        gr.api(continue_, api_name="continue", concurrency_id="models")

    def translate_tab(self):
        m = self.models
        with gr.Row(equal_height=True):
            self.text = gr.Textbox(label="German sentence", value=DEMO, lines=1, max_lines=6, scale=5,
                                   elem_id="source-text", autofocus=True)
            self.button = gr.Button("Translate", variant="primary", scale=1, elem_id="translate-button")
        with gr.Row():
            gr.Examples([[s] for s, _ in TEST_EXAMPLES], self.text, label="From test_2016_flickr (with references)",
                        cache_examples=False, examples_per_page=8)
            gr.Examples([[s] for s in CAPTIONS], self.text, label="More captions (no reference)", cache_examples=False)
        gr.Markdown(SECTIONS["domain"], elem_id='domain-note')
        with gr.Accordion("Models and decoding (all six, greedy search)", open=False):
            self.names = gr.CheckboxGroup([(m.title(n), n) for n in m], value=list(m), label="Architectures")
            with gr.Row():
                self.decoding = gr.Radio(["greedy", "beam"], value="greedy", label="Search", scale=1)
                self.beam = gr.Slider(1, 10, value=5, step=1, label="Beam size", scale=1, visible=False,
                                      elem_id="beam-size")
                self.penalty = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="Length penalty (beam)", scale=1,
                                         visible=False, elem_id="length-penalty")
                self.max_len = gr.Slider(0, 200, value=0, step=1, label="Max length (0: 1.5 × source + 10)", scale=1)
        self.status = gr.Markdown(elem_id="status")
        self.reference = gr.Textbox(label="Reference translation (test_2016_flickr)", visible=False,
                                    interactive=False, elem_id="reference")
        self.state = gr.State({})
        # The JSON of the results is written when the button is pressed (on_download), from the results the
        # cards show (self.state) and their source, reference and messages (self.shown, set with them).
        self.shown = gr.State(None)
        self.download = lazy_download("Download all results (JSON)", "translate-download", self.on_download,
                                      [self.state, self.shown])
        names = list(m)
        for row in range(0, len(names), 2):
            with gr.Row(equal_height=False):
                for name in names[row: row + 2]:
                    self.cards[name] = self.card(name)
        outputs = [self.state, self.status, self.reference, self.download, self.shown]
        outputs += [component for card in self.cards.values() for component in card.outputs()]
        self.translate_outputs = outputs
        inputs = [self.text, self.names, self.decoding, self.beam, self.penalty, self.max_len]
        for trigger in (self.button.click, self.text.submit):
            trigger(self.on_translate, inputs, outputs, api_visibility="private", concurrency_id="models")
        self.decoding.change(lambda d: [gr.Slider(visible=d == "beam")] * 2, [self.decoding],
                             [self.beam, self.penalty], api_visibility="private")

    def card(self, name: str) -> Card:
        t = self.models.translators[name]
        with gr.Column(elem_id=f"card-{name}", elem_classes=["model-card"], min_width=420) as column:
            gr.Markdown(f"### {html.escape(self.models.title(name))}" + (f" — {t.model.paper}" if t.model.paper else ""))
            # HTML, so a word copied from the source can be marked (text.translation_html)
            text = gr.HTML("", elem_classes=["translation"], elem_id=f"translation-{name}")
            stats = gr.Markdown(elem_classes=["stats"])
            choices = self.models.kinds(name)
            with gr.Row():
                kind = gr.Dropdown([(KIND_NAMES[k], k) for k in choices], value=choices[0], label="Map", scale=3,
                                   visible=len(choices) > 1, min_width=160, elem_id=f"map-{name}")
                layer = gr.Dropdown([], label="Layer", visible=False, scale=1, min_width=80)
                head = gr.Dropdown([], label="Head", visible=False, scale=1, min_width=80)
            # a subword model reads pieces; the switch shows its map over words (to compare with word models)
            units = gr.Radio(["pieces", "words"], value="pieces", label="Units", visible=t.subword,
                             elem_id=f"units-{name}")
            plot = gr.Plot(show_label=False, elem_classes=["heatmap"])
            map_stats = gr.Markdown(elem_classes=["map-stats"])
            # drawn only when opened (the Transformer's 24 panels were half of the page's drawing time)
            with gr.Accordion("Every layer and head", open=False, visible=False, elem_id=f"overview-{name}",
                              elem_classes=["overview-box"]) as box:
                small = gr.Plot(show_label=False, elem_classes=["overview"])
        card = Card(column, text, stats, kind, layer, head, plot, box, small, map_stats, units)
        for control in (kind, layer, head, units):
            control.input(lambda results, k, l, h, u, name=name: self.on_view(name, results, k, l, h, u),
                          [self.state, kind, layer, head, units], [layer, head, plot, box, small, map_stats],
                          api_visibility="private")
        box.expand(lambda results, k, name=name: self.on_overview(name, results, k), [self.state, kind], [small],
                   api_visibility="private", concurrency_id="models")
        return card

    def on_open(self) -> dict:
        """What the page opens with: the first example translated by every model (computed once)."""
        if self.opening is None:
            self.opening = self.on_translate(DEMO, list(self.models), "greedy", 5, 1.0, 0)
        return self.opening

    def on_translate(self, text, names, decoding, beam, penalty, max_len) -> dict:
        """Translate with every chosen model; fill each card (hide the others)."""
        text = well_formed(text or "").strip()
        names = [n for n in self.models if n in (names or [])]
        problem = ("Type a German sentence to translate." if not has_words(text) else
                   "Choose at least one architecture." if not names else None)
        if problem is not None:  # say so, and clear the cards: they describe a sentence no longer asked about
            return self.cleared(f"**{problem}**")
        try:
            results, reference, messages = translate_all(self.models, text, names,
                                                         beam if decoding == "beam" else 1, penalty, max_len)
        except Exception as e:  # never a stack trace in the page
            return self.cleared(f"**Translation failed:** {html.escape(str(e))}")
        out = {self.state: results, self.status: "\n\n".join(html.escape(msg) for msg in messages),
               self.reference: gr.Textbox(value=reference or "", visible=reference is not None),
               self.download: gr.Button(visible=bool(results)),   # its JSON is written when pressed (on_download)
               self.shown: {"text": text, "reference": reference, "messages": messages}}
        for name, card in self.cards.items():
            out[card.column] = gr.Column(visible=name in results)
            if name in results:
                choices = self.models.kinds(name)
                out.update({card.text: translation_html(results[name]),
                            card.stats: result_line(results[name]),
                            card.kind: gr.Dropdown([(KIND_NAMES[k], k) for k in choices], value=choices[0]),
                            card.units: "pieces"})
                views = self.on_view(name, results, choices[0], None, MEAN)
                out.update(zip([card.layer, card.head, card.plot, card.overview_box, card.overview, card.map_stats],
                               views))
        return out

    def cleared(self, status: str) -> dict:
        """The Translate tab with only ``status``: no card, reference or download left from an earlier sentence."""
        out = {self.state: {}, self.status: status, self.reference: gr.Textbox(value="", visible=False),
               self.download: gr.Button(visible=False), self.shown: None}
        out.update({card.column: gr.Column(visible=False) for card in self.cards.values()})
        return out

    def on_download(self, results: dict, shown: dict | None) -> str | None:
        """The Translate tab's download, written now that it is asked for: the JSON of the results the cards
        show (``api.results_json``, as the ``translate`` endpoint answers). None before any translation."""
        if not results or not shown:
            return None
        return api.download_file(api.results_json(self.models, shown["text"], results, shown["reference"],
                                                  shown["messages"]), "translations")

    def on_view(self, name: str, results: dict, kind: str, layer, head, units: str = "pieces"):
        """Redraw one card for a choice of map, layer and head, over pieces or words (and the statistics of
        the map shown)."""
        closed = gr.Accordion(visible=False, open=False)
        if name not in (results or {}):
            return gr.Dropdown(visible=False), gr.Dropdown(visible=False), None, closed, None, ""
        result = results[name]
        if result.notice:    # no translation (it knows none of the words): the card's map says why
            return gr.Dropdown(visible=False), gr.Dropdown(visible=False), message_figure(result.notice), closed, None, ""
        try:
            f = card_figures(self.models, result, kind, None if layer is None else int(layer),
                             MEAN if head is None else int(head), units)
        except (SaliencyTooLong, AttributionTooLong) as e:
            return gr.Dropdown(visible=False), gr.Dropdown(visible=False), message_figure(str(e)), closed, None, ""
        v = f.view
        layers = gr.Dropdown([("mean", MEAN)] + [(str(i + 1), i) for i in range(v.layers)], value=f.layer,
                             visible=v.layers > 1)
        heads = gr.Dropdown([("mean", MEAN)] + [(str(i + 1), i) for i in range(v.heads)], value=f.head,
                            visible=v.heads > 1)
        if kind in ATTRIBUTIONS:
            attention = result_map(self.models, result)[1] if self.models.translators[name].has_attention else None
            stats = attribution_markdown(kind, result_attribution(self.models, result, kind), result.translation.output_labels,
                                         attention, result.translation.src_tokens)   # its own rows: the pieces
        else:
            stats = map_stats_markdown(api.map_statistics(kind, f.shown, v.columns), f.title, v.rows, v.columns,
                                       self_attention=kind.endswith("_self"))
        trust = faithfulness_line(self.models.translators[name].metrics, kind, None if f.layer == MEAN else f.layer,
                                  None if f.head == MEAN else f.head)
        stats = "\n\n".join(x for x in (stats, trust) if x)
        # the small multiples close and empty: they are drawn again, for this map, when opened (never stale)
        box = gr.Accordion(visible=f.overview is not None, open=False,
                           label=f"Small multiples: {f.overview}" if f.overview else "")
        return layers, heads, f.plot, box, None, stats

    def on_overview(self, name: str, results: dict, kind: str):
        """The small multiples of a card's current map, when its accordion is opened."""
        if name not in (results or {}) or results[name].notice:      # notice: no translation, so no map
            return None
        try:
            return card_overview(self.models, results[name], kind)
        except (SaliencyTooLong, AttributionTooLong) as e:
            return message_figure(str(e))


    # -- the Family tab

    def family_tab(self):
        gr.Markdown(SECTIONS["family"], latex_delimiters=LATEX)
        with gr.Row(equal_height=True):
            self.f_text = gr.Textbox(label="German sentence", value=DEMO, lines=1, max_lines=4, scale=5,
                                     elem_id="family-text")
            self.f_button = gr.Button("Translate with every member", variant="primary", scale=1,
                                      elem_id="family-button")
        self.f_status = gr.Markdown(elem_id="family-status")
        self.f_shown = gr.State(False)              # whether a sentence has been run (the tab opens on its example)
        self.f_cards = {}
        names = ordered(self.family)
        for row in range(0, len(names), 3):
            with gr.Row(equal_height=False):
                for name in names[row: row + 3]:
                    with gr.Column(min_width=300, elem_id=f"family-{name}", elem_classes=["model-card"]):
                        gr.Markdown(member_header(name, self.family.translators[name].metrics), latex_delimiters=LATEX)
                        text = gr.Markdown(elem_classes=["translation"])
                        plot = gr.Plot(show_label=False, elem_classes=["heatmap"])
                        stats = gr.Markdown(elem_classes=["map-stats"])
                    self.f_cards[name] = (text, plot, stats)
                for _ in range(3 - len(names[row: row + 3])):   # a short last row: its cards stay a third wide
                    gr.Column(min_width=300, elem_classes=["family-filler"])
        self.f_outputs = [self.f_shown, self.f_status] + [c for card in self.f_cards.values() for c in card]
        for trigger in (self.f_button.click, self.f_text.submit):
            trigger(self.on_family, [self.f_text], self.f_outputs, api_visibility="private", concurrency_id="models")

    def on_family_opened(self, shown: bool, text: str) -> dict:
        """The tab shown: its example run through every member the first time, left as it is after that."""
        return {} if shown else self.on_family(text)

    def on_family(self, text) -> dict:
        """Every member's translation and map of one sentence; a refused sentence clears the last one's cards."""
        try:
            maps, reference, messages = family_maps(self.family, text)
        except RequestError as e:
            cleared = {c: (None if isinstance(c, gr.Plot) else "") for card in self.f_cards.values() for c in card}
            return {**cleared, self.f_status: f"**{md(str(e))}**"}
        lines = ([f"Reference (test_2016_flickr): *{md(reference)}*"] if reference else []) + [md(m) for m in messages]
        out = {self.f_shown: True, self.f_status: "\n\n".join(lines)}
        for m in maps:
            t = m.result.translation
            text, plot, stats = self.f_cards[m.name]
            if m.result.notice:
                out.update({text: f"**{md(m.result.notice)}**", plot: message_figure(m.result.notice), stats: ""})
                continue
            out[text] = f"{marked_text(t) or '(empty)'} <small>· log-probability {t.log_prob:.2f}</small>"
            what = kind_name("alignment", self.family.translators[m.name])
            out[plot] = map_figure("alignment", m.weights, t.output_labels, t.src_tokens, f"{m.name}: {what}", t.copied)
            out[stats] = map_stats_markdown(m.statistics, what, t.output_labels, t.src_tokens)
        return out


class Inspector:
    """One model in depth (the Inspect tab: step by step, what-if, teacher forcing, beam search,
    alignment over epochs) and two models' maps differenced (the Compare tab). The tab's state is
    a :class:`seq2seq.explorer.service.Inspection`."""

    def __init__(self, models: ModelSet):
        self.models = models

    def inspect_tab(self):
        m = self.models
        names = list(m)
        gr.Markdown(SECTIONS["inspect"])
        with gr.Row(equal_height=True):
            self.text = gr.Textbox(label="German sentence", value=DEMO, lines=1, max_lines=4, scale=4,
                                   elem_id="inspect-text")
            # the tab opens on the last of the papers' models (the Transformer), else on the last model served
            default = next((n for n in reversed(names) if n in PAPER_ORDER), names[-1] if names else None)
            self.name = gr.Dropdown([(m.title(n), n) for n in names], value=default,
                                    label="Model", scale=1, elem_id="inspect-model")
            self.button = gr.Button("Inspect", variant="primary", scale=1, elem_id="inspect-button")
        gr.Examples([[s] for s, _ in TEST_EXAMPLES], self.text, label="Test sentences (their reference is forced below)",
                    cache_examples=False, examples_per_page=6)
        self.status = gr.Markdown(elem_id="inspect-status")
        self.state = gr.State(None)
        # The JSON is written when the button is pressed (on_download), from the inspection shown then.
        self.download = lazy_download("Download this inspection (JSON)", "inspect-download", self.on_download,
                                      [self.state])

        # Before the first inspection every figure says what will fill it, rather than showing an empty frame.
        first = lambda what: message_figure(f"Press Inspect: {what}.")  # noqa: E731
        gr.Markdown(SECTIONS["steps"])
        self.steps = gr.Plot(first("the sentence above decoded word by word"), show_label=False, elem_id="inspect-steps")
        self.steps_stats = gr.Markdown(elem_classes=["map-stats"])

        gr.Markdown(SECTIONS["what_if"])
        with gr.Row(equal_height=True):
            self.prefix = gr.Textbox(label="Start of the output (the words as the model wrote them)", lines=1,
                                     scale=4, elem_id="whatif-prefix")
            self.go = gr.Button("Continue from here", scale=1, elem_id="whatif-button")
        with gr.Row():
            self.at = gr.Dropdown([], label="… or at step", interactive=True, elem_id="whatif-step")
            self.word = gr.Dropdown([], label="write instead", interactive=True, elem_id="whatif-word")
        self.whatif_text = gr.Markdown(elem_id="whatif-text")
        self.whatif = gr.Plot(first("then edit the start of the output and see the model continue"), show_label=False,
                              elem_id="whatif-plot")
        self.whatif_stats = gr.Markdown(elem_classes=["map-stats"])

        gr.Markdown(SECTIONS["forcing"])
        with gr.Row(equal_height=True):
            self.reference = gr.Textbox(label="Reference translation (filled in for test sentences; or type one)",
                                        lines=1, scale=4, elem_id="force-reference")
            self.force_button = gr.Button("Force it", scale=1, elem_id="force-button")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=380):
                self.free = gr.Plot(first("the model's own output and its map"), show_label=False, elem_id="free-plot")
                self.free_stats = gr.Markdown(elem_classes=["map-stats"])
            with gr.Column(min_width=380):
                self.forced = gr.Plot(first("the reference forced through the model, and its map"), show_label=False,
                                      elem_id="forced-plot")
                self.forced_stats = gr.Markdown(elem_classes=["map-stats"])

        gr.Markdown(SECTIONS["beam"])
        with gr.Row():
            self.beam = gr.Slider(1, 10, value=5, step=1, label="Beam size", elem_id="inspect-beam")
            self.penalty = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="Length penalty")
        gr.Markdown(SECTIONS["nbest"])
        self.nbest = gr.Dataframe(headers=NBEST_HEADERS, interactive=False, elem_id="nbest")
        self.tree = gr.Plot(first("the beam search tree"), show_label=False, elem_id="beam-tree")

        gr.Markdown(SECTIONS["source_prefix"])
        self.sp_button = gr.Button("Attribute every word", size="sm", elem_id="source-prefix-button")
        self.sp_plot = gr.Plot(first("then “Attribute every word”"), show_label=False, elem_id="source-prefix-plot")
        self.sp_text = gr.Markdown(elem_classes=["map-stats"], elem_id="source-prefix-text")
        gr.Markdown(SECTIONS["contrast"])
        with gr.Row(equal_height=True):
            self.ct_step = gr.Dropdown([], label="Output word", interactive=True, scale=2, elem_id="contrast-step")
            self.ct_foil = gr.Textbox(label="… rather than (an English word)", lines=1, scale=2, elem_id="contrast-foil")
            self.ct_go = gr.Button("Contrast", scale=1, elem_id="contrast-button")
        self.ct_plot = gr.Plot(first("then pick an output word and type another word"), show_label=False,
                               elem_id="contrast-plot")
        self.ct_text = gr.Markdown(elem_classes=["map-stats"], elem_id="contrast-text")

        gr.Markdown(SECTIONS["lens"])
        self.lens_button = gr.Button("Read every decoder layer", size="sm", elem_id="lens-button")
        self.lens_plot = gr.Plot(message_figure("Press “Read every decoder layer” for the sentence inspected."),
                                 show_label=False, elem_id="lens-plot")
        gr.Markdown(SECTIONS["decoder_lens"])
        with gr.Row(equal_height=True):
            deepest = max([encoder_layers(t) for t in self.models.translators.values()] + [2])
            self.dl_layer = gr.Slider(1, deepest, value=1, step=1, label="Encoder layer the decoder reads", scale=3,
                                      elem_id="decoder-lens-layer")
            self.dl_button = gr.Button("Translate from that layer", scale=1, elem_id="decoder-lens-button")
        self.dl_text = gr.Markdown(elem_id="decoder-lens-text")
        self.dl_plot = gr.Plot(message_figure("Press “Translate from that layer” for the sentence inspected."),
                               show_label=False, elem_id="decoder-lens-plot")

        gr.Markdown(SECTIONS["epochs"])
        self.probe = gr.Dropdown([(s, i) for i, s in enumerate(PROBE_SENTENCES)], value=0, label="Probe sentence",
                                 elem_id="probe-sentence")
        self.epochs = gr.Plot(first("the alignment of a probe sentence after each epoch of training"), show_label=False,
                              elem_id="epochs-plot")

        run_opts = dict(api_visibility="private", concurrency_id="models")
        inspect_out = [self.state, self.status, self.download, self.steps, self.steps_stats, self.prefix, self.at,
                       self.word, self.whatif_text, self.whatif, self.whatif_stats, self.reference, self.free,
                       self.free_stats, self.forced, self.forced_stats, self.nbest, self.tree, self.epochs,
                       self.sp_plot, self.sp_text, self.ct_step, self.ct_plot, self.ct_text]
        self.inspect_out = inspect_out
        self.opened_inputs = [self.state, self.status, self.text, self.name, self.beam, self.penalty, self.probe]
        for trigger in (self.button.click, self.text.submit):
            trigger(self.on_inspect, [self.text, self.name, self.beam, self.penalty, self.probe], inspect_out,
                    **run_opts)
        whatif_out = [self.state, self.download, self.prefix, self.whatif_text, self.whatif, self.whatif_stats]
        for trigger in (self.go.click, self.prefix.submit):
            trigger(self.on_continue, [self.state, self.prefix], whatif_out, **run_opts)
        self.at.input(self.on_step, [self.state, self.at], [self.word], api_visibility="private")
        self.word.input(self.on_pick, [self.state, self.at, self.word], whatif_out, **run_opts)
        for trigger in (self.force_button.click, self.reference.submit):
            trigger(self.on_force, [self.state, self.reference],
                    [self.state, self.download, self.forced, self.forced_stats], **run_opts)
        for slider in (self.beam, self.penalty):
            slider.release(self.on_beam, [self.state, self.beam, self.penalty],
                           [self.state, self.download, self.nbest, self.tree], **run_opts)
        self.probe.input(self.on_probe, [self.name, self.probe], [self.epochs], api_visibility="private")
        self.sp_button.click(self.on_source_prefix, [self.state], [self.sp_plot, self.sp_text], **run_opts)
        for trigger in (self.ct_go.click, self.ct_foil.submit):
            trigger(self.on_contrast, [self.state, self.ct_step, self.ct_foil], [self.ct_plot, self.ct_text], **run_opts)
        self.lens_button.click(self.on_lens, [self.state], [self.lens_plot], **run_opts)
        self.dl_button.click(self.on_decoder_lens, [self.state, self.dl_layer], [self.dl_text, self.dl_plot], **run_opts)
        # one model per inspection: choosing another model inspects the same sentence again with it
        self.name.input(self.on_model, [self.state, self.text, self.name, self.beam, self.penalty, self.probe],
                        inspect_out, **run_opts)

    def compare_tab(self):
        m = self.models
        names = list(m)
        attending = [n for n in names if m.translators[n].has_attention] or names
        gr.Markdown(SECTIONS["compare"])
        with gr.Row(equal_height=True):
            self.c_text = gr.Textbox(label="German sentence", value=DEMO, lines=1, max_lines=4, scale=3,
                                     min_width=300, elem_id="compare-text")     # a row of its own on a phone
            self.c_a = gr.Dropdown([(m.title(n), n) for n in names], value=attending[0] if names else None,
                                   label="Model A", scale=1, elem_id="compare-a")
            # B: the last of the papers' models with attention (the Transformer), not a variant sorted after it
            b = next((n for n in reversed(attending) if n in PAPER_ORDER), attending[-1] if names else None)
            self.c_b = gr.Dropdown([(m.title(n), n) for n in names], value=b,
                                   label="Model B", scale=1, elem_id="compare-b")
        with gr.Row(equal_height=True):
            self.c_along = gr.Radio([("A's translation", "a"), ("B's translation", "b"),
                                     ("the reference (test sentences)", "reference")], value="a",
                                    label="Along which output", scale=3, elem_id="compare-along")
            self.c_button = gr.Button("Compare", variant="primary", scale=1, elem_id="compare-button")
        self.c_status = gr.Markdown(elem_id="compare-status")
        # The JSON is written when the button is pressed (on_compare_download), from what c_state holds: the
        # comparison shown, with its sentence, models and output.
        self.c_state = gr.State(None)
        self.c_download = lazy_download("Download the comparison (JSON)", "compare-download", self.on_compare_download,
                                        [self.c_state])
        with gr.Row(equal_height=False):
            self.c_plot_a = gr.Plot(show_label=False, elem_id="compare-plot-a", min_width=380)
            self.c_plot_b = gr.Plot(show_label=False, elem_id="compare-plot-b", min_width=380)
        self.c_diff = gr.Plot(show_label=False, elem_id="compare-difference")
        self.c_outputs = [self.c_state, self.c_status, self.c_download, self.c_plot_a, self.c_plot_b, self.c_diff]
        self.c_opened_inputs = [self.c_state, self.c_text, self.c_a, self.c_b, self.c_along]
        for trigger in (self.c_button.click, self.c_text.submit):
            trigger(self.on_compare, [self.c_text, self.c_a, self.c_b, self.c_along], self.c_outputs,
                    api_visibility="private", concurrency_id="models")

    # -- callbacks of the Inspect tab

    def export(self, i: Inspection) -> gr.Button:
        """The download button, shown: pressing it writes everything this inspection shows as JSON (on_download)."""
        return gr.Button(visible=True)

    def on_download(self, i: Inspection | None) -> str | None:
        """The Inspect tab's download, written now that it is asked for: the inspection in the tab's state, with
        its latest what-if, forcing and beam search. None before any inspection."""
        if not i:
            return None
        return api.download_file(api.inspection_json(self.models, i), f"inspect-{i.name}")

    def on_inspect_opened(self, state, status, text, name, beam, penalty, probe) -> dict:
        """The tab shown: its example inspected the first time (as Compare and Family open); left as it is once
        something was inspected or said there (a sentence handed over from the Compare tab's list waits for Inspect)."""
        return {} if state is not None or (status or "").strip() else self.on_inspect(text, name, beam, penalty, probe)

    def on_inspect(self, text, name, beam, penalty, probe) -> dict:
        """Decode the sentence with one model and fill every view."""
        try:
            i = Inspection.run(self.models, name, text)
        except RequestError as e:
            return {self.status: f"**{md(str(e))}**"}
        except Exception as e:  # never a stack trace in the page
            return {self.status: f"**Inspection failed:** {html.escape(str(e))}"}
        t, (kind, weights) = i.translation, i.map
        what = kind_name(kind, self.models.translators[name])
        reference = self.models.reference(i.text)
        stats = stats_of(kind, what, weights, t.output_labels, t.src_tokens)
        truncated = f" · read only the first {len(t.src_tokens)} tokens" if t.truncated else ""
        out = {
            self.status: (f"**{md(self.models.title(name))}** (greedy): {marked_text(t) or '(empty)'} · log-probability "
                          f"{t.log_prob:.2f}{truncated}" + (f"<br>{COPIED_NOTE}" if t.copied else "")),
            self.steps: stepper(i.steps, name), self.steps_stats: stats,
            self.prefix: " ".join(t.raw_tokens),
            self.at: gr.Dropdown([(f"{n + 1}: {w}", n) for n, w in enumerate(i.steps.written)], value=None),
            self.word: gr.Dropdown([], value=None), self.whatif_text: "", self.whatif_stats: "",
            self.whatif: message_figure("Edit the start of the output, or pick a word at a step, to see the model "
                                        "continue from there."),
            self.reference: reference or "",
            self.free: map_figure(kind, weights, t.output_labels, t.src_tokens,
                                  f"{name}: {what} · free-running (greedy)", t.copied),
            self.free_stats: stats,
        }
        out.update(self.forcing(i, reference) if reference else {
            self.forced: message_figure("Type a reference translation above and press Force it."), self.forced_stats: ""})
        out.update(self.beam_search(i, beam, penalty))
        labels = t.output_labels
        out.update({self.sp_plot: message_figure("Press “Attribute every word” to see where each word came from."),
                    self.sp_text: "", self.ct_plot: message_figure("Pick an output word and type another word."),
                    self.ct_text: "", self.ct_step: gr.Dropdown([(f"{n + 1}: {w}", n) for n, w in enumerate(labels)],
                                                             value=None)})
        out.update({self.epochs: self.on_probe(name, probe), self.state: i, self.download: self.export(i)})
        return out

    def on_source_prefix(self, i: Inspection | None):
        """Integrated gradients of every output word over the source and the words already written."""
        if i is None:
            return message_figure("Inspect a sentence first."), ""
        try:
            sp = i.source_prefix(self.models)
        except AttributionTooLong as e:
            return message_figure(str(e)), ""
        t = i.translation
        share = sp.source_share
        mean = float(share.mean()) if share.numel() else 0.0
        text = (f"<small>On average **{100 * mean:.0f}%** of a word's attribution came from the source and "
                f"{100 - 100 * mean:.0f}% from the words already written (shares of the absolute attributions; "
                f"completeness gap {100 * float(sp.completeness_gap.median()):.1f}% median).</small>")
        return source_prefix_figure(sp.source, sp.prefix, share, t.output_labels, t.src_tokens,
                                    f"{i.name}: integrated gradients over source and written words"), text

    def on_contrast(self, i: Inspection | None, step, foil):
        """Why the word at ``step`` rather than ``foil``."""
        if i is None:
            return message_figure("Inspect a sentence first."), ""
        try:
            c = i.contrast(self.models, step, foil)
        except (RequestError, AttributionTooLong) as e:
            return message_figure(str(e)), ""
        word, other = md(c["word"]), md(c["foil"])
        text = (f"<small>At step {c['step'] + 1} the model wrote “{word}” (log p {c['log_prob']:.2f}); “{other}” had "
                f"log p {c['foil_log_prob']:.2f}, a difference of **{c['difference']:.2f}**. The bars sum to that "
                f"difference minus its value with zero source embeddings ({c['baseline_difference']:.2f}).</small>")
        return contrast_figure(c["attribution"], i.translation.src_tokens,
                               f"{i.name}: why “{c['word']}” and not “{c['foil']}”"), text

    def on_lens(self, i: Inspection | None):
        """The logit lens along the inspected translation."""
        if i is None:
            return message_figure("Inspect a sentence first.")
        try:
            lens = i.logit_lens(self.models)
        except RequestError as e:
            return message_figure(str(e))
        if lens is None:
            return message_figure("Nothing to read: the translation is empty.")
        return lens_figure(lens.probs, lens.top_words, lens.top_probs, lens.rows,
                           f"{self.models.title(i.name)}: what each decoder layer would write")

    def on_decoder_lens(self, i: Inspection | None, layer):
        """The translation when the decoder reads an earlier encoder layer."""
        if i is None:
            return "", message_figure("Inspect a sentence first.")
        try:
            t, (kind, weights) = i.decoder_lens(self.models, layer)
        except RequestError as e:
            return "", message_figure(str(e))
        title = f"{self.models.title(i.name)} reading encoder layer {int(layer)}: {kind_name(kind, self.models.translators[i.name])}"
        return (f"**Encoder layer {int(layer)}:** {md(t.text or '(empty)')} <small>· log-probability "
                f"{t.log_prob:.2f}</small>", map_figure(kind, weights, t.output_labels, t.src_tokens, title))

    def on_model(self, i: Inspection | None, text, name, beam, penalty, probe) -> dict:
        """Another model chosen: every view is redone for it (before any inspection, only the epochs view)."""
        if i is None:
            return {self.epochs: self.on_probe(name, probe)}
        return self.on_inspect(text if has_words(text or "") else i.text, name, beam, penalty, probe)

    def on_continue(self, i: Inspection | None, prefix: str) -> dict:
        """What-if: force the typed start of the output and let the model continue."""
        if not i:
            return {self.whatif_text: "**Press Inspect first.**"}
        out = self.continuation(i, output_tokens(self.models.translators[i.name], prefix))
        return {**out, self.state: i, self.download: self.export(i)} if i.what_if else out

    def on_step(self, i: Inspection | None, at):
        """The five words the model found most probable at the chosen step."""
        if not i or at is None or not 0 <= int(at) < len(i.steps.top_words):
            return gr.Dropdown([], value=None)
        words, probs = i.steps.top_words[int(at)], i.steps.top_probs[int(at)]
        return gr.Dropdown([(f"{w} ({p:.2f})", w) for w, p in zip(words, probs)], value=None)

    def on_pick(self, i: Inspection | None, at, word) -> dict:
        """What-if: the output up to the chosen step, then the chosen word, then the model's own continuation."""
        if not i or at is None or not word:
            return {}
        prefix = i.steps.written[: int(at)] + [word]
        out = self.continuation(i, prefix)
        return {**out, self.prefix: " ".join(prefix), self.state: i, self.download: self.export(i)}

    def continuation(self, i: Inspection, prefix: list[str]) -> dict:
        """The what-if views for one forced start of the output."""
        if not prefix:
            return {self.whatif_text: "**Type the start of an output first** (the model then continues from it)."}
        try:
            w = i.continue_with(self.models, prefix)
        except SaliencyTooLong as e:  # the continuation stands; say why there is no map
            return {self.whatif_text: "", self.whatif: message_figure(str(e)), self.whatif_stats: ""}
        t, (kind, weights), forced = w["translation"], w["map"], w["forced"]
        note = f" · not in its vocabulary, so written as &lt;unk&gt;: {md(', '.join(w['unknown']))}" if w["unknown"] else ""
        what = kind_name(kind, self.models.translators[i.name])
        fig = mark_forced(map_figure(kind, weights, t.output_labels, t.src_tokens,
                                     f"{i.name}: {what} · the first {forced} word(s) forced", t.copied), forced)
        return {self.whatif: fig,
                self.whatif_text: (f"**Forced** {md(' '.join(prefix))} → **{marked_text(t) or '(empty)'}** · "
                                   f"log-probability {t.log_prob:.2f}{note}"),
                self.whatif_stats: stats_of(kind, what, weights, t.output_labels, t.src_tokens)}

    def on_force(self, i: Inspection | None, reference: str) -> dict:
        if not i:
            return {self.forced_stats: "**Press Inspect first.**"}
        return {**self.forcing(i, reference), self.state: i, self.download: self.export(i)}

    def forcing(self, i: Inspection, reference: str) -> dict:
        """Teacher forcing: the reference (or any output) written through the model, and its map."""
        try:
            f = i.force(self.models, reference)
        except SaliencyTooLong as e:
            return {self.forced: message_figure(str(e)), self.forced_stats: ""}
        if f is None:
            return {self.forced: message_figure("Type a reference translation above and press Force it."),
                    self.forced_stats: ""}
        t, (kind, weights) = f["translation"], f["map"]
        what = kind_name(kind, self.models.translators[i.name])
        title = f"{i.name}: {what} · teacher-forced (log-probability {t.log_prob:.2f})"
        note = (f"<small>Not in {md(i.name)}'s vocabulary, so read as &lt;unk&gt;: {md(', '.join(f['unknown']))}"
                "</small>\n\n" if f["unknown"] else "")
        return {self.forced: map_figure(kind, weights, t.output_labels, t.src_tokens, title),
                self.forced_stats: note + stats_of(kind, what, weights, t.output_labels, t.src_tokens)}

    def on_beam(self, i: Inspection | None, beam, penalty) -> dict:
        if not i:
            return {}
        return {**self.beam_search(i, beam, penalty), self.state: i, self.download: self.export(i)}

    def beam_search(self, i: Inspection, beam, penalty) -> dict:
        """The n-best list and the search tree for the chosen beam size and length penalty."""
        b = i.beam_search(self.models, beam, penalty)
        title = f"{i.name}: beam search, beam size {b['beam_size']}, length penalty {b['length_penalty']:g}"
        return {self.tree: beam_tree(b["tree"], title),
                self.nbest: gr.Dataframe(value=i.nbest_rows(), headers=NBEST_HEADERS)}

    def on_probe(self, name, probe):
        """One probe sentence's alignment after each epoch (the checkpoint's probes.json)."""
        return probe_figure(self.models, name, int(probe or 0))

    # -- callback of the Compare tab

    def on_compare(self, text, a, b, along) -> dict:
        """Both models forced along one output; their maps, the difference and the similarity. A failed
        comparison clears the last one's maps and download, so nothing on the tab describes another request."""
        try:
            c, tokens = compare(self.models, text, a, b, along)
        except RequestError as e:
            return self.compare_cleared(f"**{md(str(e))}**")
        except Exception as e:  # e.g. the models read the sentence differently
            return self.compare_cleared(f"**Comparison failed:** {html.escape(str(e))}")
        notes = scale_notes(c.kinds, (c.a, c.b)) or ()     # different colour ranges side by side: each figure says so
        return {self.c_state: ((text or "").strip(), along, (a, b), c),
                self.c_status: comparison_status(c, (a, b), along, tokens),
                self.c_download: gr.Button(visible=True),
                self.c_plot_a: map_figure(c.kinds[0], c.a, c.rows, c.columns, f"A · {a}: {c.names[0]}",
                                          notes=notes[:1]),
                self.c_plot_b: map_figure(c.kinds[1], c.b, c.rows, c.columns, f"B · {b}: {c.names[1]}",
                                          notes=notes[1:]),
                self.c_diff: difference_heatmap(map_view("difference", c.difference, c.rows, c.columns),
                                                f"A − B ({a} − {b}): purple where A puts more weight, orange where B does")}

    def on_compare_opened(self, shown, text, a, b, along) -> dict:
        """The tab shown: its example compared the first time, left as it is after that."""
        return {} if shown else self.on_compare(text, a, b, along)

    def compare_cleared(self, message: str) -> dict:
        return {self.c_state: None, self.c_status: message, self.c_download: gr.Button(visible=False),
                self.c_plot_a: None, self.c_plot_b: None, self.c_diff: None}

    def on_compare_download(self, shown) -> str | None:
        """The Compare tab's download, written now that it is asked for: the comparison on the tab (None before one)."""
        if not shown:
            return None
        text, along, (a, b), c = shown
        return api.download_file(api.comparison_json(text, along, (a, b), c), f"compare-{a}-{b}")


def refused(endpoint: str, e: Exception) -> gr.Error:
    """A bad request's answer: its message for the client, one line in the server's console (no traceback)."""
    print(f"refused a /{endpoint} request: {e}", file=sys.stderr, flush=True)
    return gr.Error(str(e), print_exception=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"),
                        help="directory of checkpoints, or hf://USER/NAME")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (0.0.0.0: every interface; default $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    parser.add_argument("--hf-model", action="append", default=[], metavar="ID_OR_DIR",
                        help="also serve a Hugging Face translation model (repeatable): a Hub id such as "
                             "Helsinki-NLP/opus-mt-de-en, or a save_pretrained directory")
    parser.add_argument("--download", action="store_true",
                        help="let --hf-model fetch a Hub id that is not in the local Hugging Face cache")
    args = parser.parse_args(argv)
    models = ModelSet(args.checkpoints, extra=args.hf_model, download=args.download)
    if not models.translators and not models.failures:   # nothing to serve, and nothing to say why on the page
        parser.exit(2, f"error: {models.root} holds no checkpoint (a directory with config.json, or a folder of "
                       "them): train one with train.py, or point --checkpoints at one\n")
    family = ModelSet(models.root / "family", references=models.references) if (models.root / "family").is_dir() else None
    print(f"Loaded {len(models.translators)} model(s) on {models.device}: {', '.join(models) or 'none'}"
          + (f"; the attention family: {', '.join(ordered(family))}" if family else ""), flush=True)
    for name, reason in models.failures + (family.failures if family else []):
        print(f"Could not load {name}: {reason}", flush=True)
    demo, _ = build_app(models, family)
    # One request at a time runs (the models use both CPUs), in one queue for the page and the API.
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    # quiet: Gradio's own banner would suggest share=True in launch(); this app has --share
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, css=(ASSETS / "page.css").read_text(),
                head=(ASSETS / "page_head.html").read_text(), footer_links=["api", "gradio"], quiet=True,
                prevent_thread_lock=True)
    public = f" and {demo.share_url}" if args.share and demo.share_url else ""
    print(f"Serving on {demo.local_url}{public}; this command keeps running until Ctrl-C."
          + ("" if args.share else " Add --share for a public gradio.live link as well."), flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
