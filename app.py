"""The web app: type a German sentence, watch every architecture translate it side by side,
and see where each one looks while it writes each word.

    python app.py [--checkpoints DIR | hf://USER/NAME] [--host 127.0.0.1] [--port 7860] [--share]

This file lays out the page and wires its events; the Inspect and Compare tabs are laid out by
``seq2seq.explorer.inspect_ui``, the Leaderboard's whole-test-set sections and the Compare tab's list by
``seq2seq.explorer.comparison_ui``. What the page computes comes from the library:
``seq2seq.explorer.service`` (loading the models, translating, inspecting, comparing),
``seq2seq.explorer.api`` (the ``translate`` and ``continue`` endpoints, and the JSON of every download),
``seq2seq.explorer.figures``, ``seq2seq.explorer.cards`` and ``seq2seq.explorer.text`` (what is drawn
and written), ``seq2seq.results`` (the leaderboard). A checkpoint that fails to load is listed with the
reason and the rest are served.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go
from gradio.components.plot import PlotData

from seq2seq.analysis.attribution import METHODS as ATTRIBUTIONS
from seq2seq.analysis.maps import MapTooLong, label, map_view, mean_label
from seq2seq.explorer import api
from seq2seq.explorer.cards import card_figures, card_overview, grid_label, overview_label
from seq2seq.explorer.comparison import TestComparison
from seq2seq.explorer.comparison_ui import differences_panel, leaderboard_sections
from seq2seq.explorer.examples import CAPTIONS, DEMO, TEST_EXAMPLES
from seq2seq.explorer.family import family_maps, member_header, ordered
from seq2seq.explorer.figures import heatmap, message_figure
from seq2seq.explorer.inspect_ui import Inspector
from seq2seq.explorer.service import (MEAN, ModelSet, RequestError, Translating, has_words,
                                      result_attribution, result_map, result_view, well_formed)
from seq2seq.explorer.text import (ABOUT, SECTIONS, attribution_markdown, bold, card_title, failure, faithfulness_line,
                                   family_line, family_status, leaderboard_intro, load_errors, map_stats_markdown,
                                   messages_markdown, no_models, paragraphs, result_line, translating_markdown,
                                   translation_html)
from seq2seq.results import LEADERBOARD_COLUMNS, TRUST_COLUMNS, common, frame, result_rows

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "seq2seq" / "explorer"
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def card_state(state: str) -> str:
    """A card's state, the value of a small element in it (``Card.state``) that page_head.html's style reads: shown,
    waiting while its model works on a new sentence (dimmed, "translating…") or hidden. Not the card column's
    classes or visibility: Gradio copies every figure inside a column each time the column is updated, which at
    every step of Translate was a fifth of the page's time (docs/benchmarks.md)."""
    return f'<span class="card-state" data-state="{state}"></span>'


SHOWN, WAITING, HIDDEN = card_state("shown"), card_state("waiting"), card_state("hidden")
# The cards' menus (map, layer, head, units, small multiples) from the click until they are reset for the new sentence
# (``UI.finishing``, after the last model): pending, greyed and closed to the pointer (page_head.html), so a choice
# made meanwhile is neither shown on an old sentence's menus nor undone by the reset; then ready.
MENUS_PENDING = '<span class="menus-state" data-state="pending"></span>'
MENUS_READY = '<span class="menus-state" data-state="ready"></span>'
# Translate sends the first card as soon as its model is done, then the next cards STEP_MODELS at a time (each step
# costs the server and the page the updates of every card shown so far: translation_steps says why). One at a time
# measured quicker than two (docs/benchmarks.md): the last step then carries one map to draw, not two.
STEP_MODELS = 1
QUEUE_SIZE = 64              # requests waiting at once (about a minute's wait on 2 CPUs); more are told the queue is full


# The reference and the download are hidden, not taken off the page: the page rebuilds its whole tree to show a
# component taken off it again.
HIDDEN_HERE = "hidden"


def shows(shown) -> bool | str:
    """The reference's or the download's visibility: shown, or hidden but kept on the page."""
    return True if shown else HIDDEN_HERE


def changed(menus_set: dict | None, name: str) -> dict:
    """``UI.menus_set`` once a person has changed a card's map or opened its small multiples: its menus are no
    longer as Translate set them (the next reset sends them all)."""
    return {n: m for n, m in (menus_set or {}).items() if n != name}


def grid_choices(n: int) -> list[tuple[str, int]]:
    """A layer or head dropdown's choices: the mean, then each of ``n`` (numbered from 1)."""
    return [("mean", MEAN)] + [(str(i + 1), i) for i in range(n)]


# ---------------------------------------------------------------------------- the page


def build_app(models: ModelSet, family: ModelSet | None = None) -> tuple[gr.Blocks, "UI"]:
    ui = UI(models, family)
    with gr.Blocks(title="seq2seq attention explorer") as demo:
        ui.layout()
        if models.translators:  # the page opens on the first example, translated
            demo.load(ui.on_open, None, ui.all_translate_outputs(), **api.progress_on(ui.status),  # as Translate
                      **api.USES_MODELS)
    return demo, ui


@dataclass
class Card:
    """The components of one model's card."""

    column: gr.Column
    state: gr.HTML            # shown, waiting or hidden (card_state)
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

    def menus(self) -> list:
        """What Translate resets after the last model, for the new sentence (``UI.finishing``)."""
        return [self.kind, self.layer, self.head, self.units, self.overview_box, self.overview]

    def outputs(self) -> list:
        """What Translate fills as the card's model is done (``UI.translating``)."""
        return [self.state, self.text, self.stats, self.plot, self.map_stats]


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
            gr.Markdown(load_errors(m.failures), elem_id="load-errors")
        if not m.translators:
            gr.Markdown(no_models(m.root))
        # wrap: on a phone the six tabs take two lines, each one tap away (Gradio's default hides four behind "⋯")
        with gr.Tabs(overflow_behavior="wrap", elem_id="main-tabs"):
            with gr.Tab("Translate"):
                self.translate_tab()
            if m.translators:
                with gr.Tab("Inspect", elem_id="inspect-tab") as tab:
                    self.inspector.inspect_tab()
                i = self.inspector
                # a tab's opening and its main button: progress on its status line, under the button (its figures
                # would be copied at every later message: with them, 1.43x instead of 1.33x after a tour)
                tab.select(i.on_inspect_opened, i.opened_inputs, i.inspect_out, **api.progress_on(i.status),
                           **api.USES_MODELS)
                with gr.Tab("Compare", elem_id="compare-tab") as tab:
                    self.inspector.compare_tab()
                    self.differences = differences_panel(self.comparison, self.inspector)
                # a tab opens on its first example, computed when first shown, not on three empty frames
                tab.select(i.on_compare_opened, i.c_opened_inputs, i.c_outputs,
                           **api.progress_on(i.c_status), **api.USES_MODELS)
            if self.family is not None and self.family.translators:
                with gr.Tab("Family", elem_id="family-tab") as tab:
                    self.family_tab()
                tab.select(self.on_family_opened, [self.f_shown, self.f_text], self.f_outputs,
                           **api.progress_on(self.f_status), **api.USES_MODELS)
            with gr.Tab("Leaderboard"):
                rows = result_rows(m.root) + result_rows([p for n, p in m.paths.items() if p and p.parent != m.root])
                gr.Markdown(leaderboard_intro(common(rows, "hardware")))
                gr.Dataframe(frame(rows, LEADERBOARD_COLUMNS), interactive=False, pinned_columns=1, elem_id="leaderboard")
                gr.Markdown(SECTIONS["trust"])
                gr.Dataframe(frame(rows, TRUST_COLUMNS), interactive=False, pinned_columns=1, elem_id="trust")
                leaderboard_sections(self.comparison)
            with gr.Tab("About"):
                gr.Markdown(ABOUT, latex_delimiters=LATEX)
        api.register(m)   # the translate and continue endpoints

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
        self.menus_state = gr.HTML(MENUS_READY, container=False, elem_classes=["menus-state-box"])
        self.reference = gr.Textbox(label="Reference translation (test_2016_flickr)", visible=HIDDEN_HERE,
                                    interactive=False, elem_id="reference")
        self.state = gr.State({})
        # The JSON of the results is written when the button is pressed (on_download), from the results the
        # cards show (self.state) and their source, reference and messages (self.shown, set with them).
        self.shown = gr.State(None)
        # What each card's menus show, as Translate last set them (finishing; a card's entry is dropped when a person
        # changes its map or opens its small multiples): the next reset sends only what differs (most often nothing).
        self.menus_set = gr.State({})
        self.download = api.download_button("Download all results (JSON)", "translate-download", self.on_download,
                                            [self.state, self.shown])
        names = list(m)
        for row in range(0, len(names), 2):
            with gr.Row(equal_height=False):
                for name in names[row: row + 2]:
                    self.cards[name] = self.card(name)
        # Translate is two events, each with only the outputs it sets (Gradio redoes the update of every output a
        # generator's step leaves out, a few milliseconds each, at every step): each card as its model is done
        # (translating), then the menus reset for the new sentence, the reference and the download (finishing). (A
        # reset of its own at the click, before the models, held the models back: the page sends an event's request
        # only once the event before it on the same click has been answered and drawn, 85 ms here.) Meanwhile the
        # menus are pending (MENUS_PENDING): the old reference dimmed as the old cards are, the download hidden.
        cards = self.cards.values()
        self.translate_outputs = ([self.state, self.status, self.shown, self.menus_state]
                                  + [c for card in cards for c in card.outputs()])
        self.finish_outputs = ([self.reference, self.download, self.menus_state, self.menus_set]
                               + [c for card in cards for c in card.menus()])
        inputs = [self.text, self.names, self.decoding, self.beam, self.penalty, self.max_len]
        # Gradio's progress on the status line only: the cards waiting for their model are dimmed (page_head.html),
        # its border on every card would say a finished one is busy; and Gradio's page copies every component an
        # event ever showed progress on at each message of every later event (the opening's and these ~90 outputs:
        # 26,000 copies a click). Translating makes each value as the page takes it (postprocess=False).
        status = api.progress_on(self.status)
        for trigger in (self.button.click, self.text.submit):
            trigger(self.translating, inputs, self.translate_outputs, postprocess=False, **status,
                    **api.USES_MODELS).then(self.finishing, [self.state, self.shown, self.menus_set],
                                            self.finish_outputs, show_progress="hidden", **status, **api.PRIVATE)
        self.decoding.change(lambda d: [gr.Slider(visible=d == "beam")] * 2, [self.decoding], [self.beam, self.penalty],
                             **api.PRIVATE)

    def card(self, name: str) -> Card:
        t = self.models.translators[name]
        with gr.Column(elem_id=f"card-{name}", elem_classes=["model-card"], min_width=420) as column:
            state = gr.HTML(SHOWN, container=False, elem_classes=["card-state-box"])
            gr.Markdown(card_title(self.models.title(name), t.model.paper), elem_classes=["card-title"])
            # HTML, so a word copied from the source can be marked (text.translation_html)
            text = gr.HTML("", elem_classes=["translation"], elem_id=f"translation-{name}")
            stats = gr.Markdown(elem_classes=["stats"])
            choices = self.models.kinds(name)
            with gr.Row(elem_classes=["card-menus"]):
                kind = gr.Dropdown([(label(k), k) for k in choices], value=choices[0], label="Map", scale=3,
                                   visible=len(choices) > 1, min_width=160, elem_id=f"map-{name}")
                layer = gr.Dropdown([], label="Layer", visible=False, scale=1, min_width=150)
                head = gr.Dropdown([], label="Head", visible=False, scale=1, min_width=150)
            # a subword model reads pieces; the switch shows its map over words (to compare with word models)
            units = gr.Radio(["pieces", "words"], value="pieces", label="Units", visible=t.subword,
                             elem_id=f"units-{name}", elem_classes=["card-menus"])
            plot = gr.Plot(show_label=False, elem_classes=["heatmap"])
            map_stats = gr.Markdown(elem_classes=["map-stats"])
            # drawn only when opened (the Transformer's 24 panels were half of the page's drawing time)
            with gr.Accordion("Every layer and head", open=False, visible=False, elem_id=f"overview-{name}",
                              elem_classes=["overview-box"]) as box:
                small = gr.Plot(show_label=False, elem_classes=["overview"])
        card = Card(column, state, text, stats, kind, layer, head, plot, box, small, map_stats, units)
        # progress on the menu just used (the card's map would be copied at every message of every later Translate),
        # and on the small multiples inside the box just opened (emptied by the next Translate's reset)
        for control in (kind, layer, head, units):
            control.input(lambda results, k, l, h, u, set_, name=name: (*self.on_view(name, results, k, l, h, u),
                                                                         changed(set_, name)),
                          [self.state, kind, layer, head, units, self.menus_set],
                          [layer, head, plot, box, small, map_stats, self.menus_set], **api.progress_on(control),
                          **api.PRIVATE)
        box.expand(lambda results, k, set_, name=name: (self.on_overview(name, results, k), changed(set_, name)),
                   [self.state, kind, self.menus_set], [small, self.menus_set], **api.progress_on(small),
                   **api.USES_MODELS)
        return card

    def on_open(self) -> dict:
        """What the page opens with: the first example translated by every model (computed once)."""
        if self.opening is None:
            self.opening = self.on_translate(DEMO, list(self.models), "greedy", 5, 1.0, 0)
        return self.opening

    def all_translate_outputs(self) -> list:
        return list(dict.fromkeys(self.translate_outputs + self.finish_outputs))

    def on_translate(self, text, names, decoding, beam, penalty, max_len) -> dict:
        """Translate with every chosen model; fill each card (hide the others): what the last of
        ``translation_steps`` and ``finishing`` set, in one answer (the page's opening, the tests)."""
        for step in self.translation_steps(text, names, decoding, beam, penalty, max_len):
            pass
        return {**step, **self.finishing(step[self.state], step[self.shown], {})}

    def finishing(self, results: dict, shown: dict | None, menus_set: dict | None) -> dict:
        """After the last model: each card's menus and small multiples back to its default map of the new sentence
        (its layers and heads; hidden when it has no map: no translation, or too long to compute), sent only where
        they differ from what the card's menus show (``menus_set``: the page's drawing of 40-odd menus was most of
        its work after the maps); the menus ready again; the reference shown for a test sentence, the download for
        any results (its JSON is written when pressed, on_download)."""
        reference = (shown or {}).get("reference")
        out = {self.reference: gr.Textbox(value=reference or "", visible=shows(reference is not None)),
               self.download: gr.Button(visible=shows(results and shown)), self.menus_state: MENUS_READY}
        now = dict(menus_set or {})                   # a new dict: a State's value may be shared (the opening's)
        for name, result in (results or {}).items():
            reset = {c: (v, v.constructor_args if isinstance(v, gr.blocks.Block) else v)
                     for c, v in self.card_reset(name, result).items()}
            before = now.get(name) or {}
            out.update({c: v for c, (v, shown_as) in reset.items()
                        if c._id not in before or before[c._id] != shown_as})
            now[name] = {c._id: shown_as for c, (_, shown_as) in reset.items()}
        out[self.menus_set] = now
        return out

    def card_reset(self, name: str, result) -> dict:
        """A card's menus and small multiples back to its default map of ``result``, closed and emptied."""
        card, kinds = self.cards[name], self.models.kinds(name)
        return {card.kind: gr.Dropdown([(label(k), k) for k in kinds], value=kinds[0]), card.units: "pieces",
                **self.default_menus(name, result), card.overview: None}

    def default_menus(self, name: str, result) -> dict:
        """A card's layer and head menus and small multiples for its default map of ``result`` (hidden when it has
        no map: no translation, or too long to compute)."""
        try:
            v = None if result.notice else result_view(self.models, result, self.models.kinds(name)[0])
        except MapTooLong:
            v = None
        return self.menus(name, *(None, None) if v is None else (v.layers, v.heads, overview_label(v)))

    def menus(self, name: str, layers: int | None, heads: int | None, what: str | None = "") -> dict:
        """The layer and head menus (the mean chosen) and the small multiples, closed: for a map of ``layers`` ×
        ``heads`` whose small multiples show ``what`` ("": ``grid_label``'s; None: none); all hidden for no map."""
        card = self.cards[name]
        if layers is None:
            return {card.layer: gr.Dropdown(visible=False), card.head: gr.Dropdown(visible=False),
                    card.overview_box: gr.Accordion(visible=False, open=False)}
        what = grid_label(layers, heads) if what == "" else what
        return {card.layer: gr.Dropdown(grid_choices(layers), value=MEAN, visible=layers > 1),
                card.head: gr.Dropdown(grid_choices(heads), value=MEAN, visible=heads > 1),
                card.overview_box: gr.Accordion(visible=what is not None, open=False,
                                                label=f"Small multiples: {what}" if what else "")}

    def translating(self, text, names, decoding, beam, penalty, max_len):
        """Translate's callback: ``translation_steps``, each value as the page takes it, made here once (the event
        has ``postprocess=False``): Gradio would make every value again at each step, each in a thread of its
        own, and write every figure's JSON again."""
        made = {}         # (component, id of a value kept alive by the steps) -> the value as the page takes it

        def sent(component, v):
            if isinstance(v, (dict, gr.components.Component)) or component.stateful:   # an update, or the state
                return v
            key = (component._id, id(v))      # (the value is kept in ``made``: its id is not reused)
            if key not in made:
                made[key] = v, (PlotData(type="plotly", plot=v.to_json()).model_dump() if isinstance(v, go.Figure)
                                else component.postprocess(v))
            return made[key][1]

        for out in self.translation_steps(text, names, decoding, beam, penalty, max_len):
            yield {c: sent(c, v) for c, v in out.items()}

    def translation_steps(self, text, names, decoding, beam, penalty, max_len):
        """Translate with every chosen model, yielding the page's updates as they come, so the page draws each
        card while the next model works: first the cards not asked for hide, those asked for are marked waiting
        (their old sentence dimmed under "translating…", not to be read as the new one's); then each card, filled
        (or hidden, if its model failed) as soon as its model is done; last the messages and the state of all the
        results. An empty or failed request yields once: its message, every card hidden.

        Each step holds every update so far, not only the new ones: Gradio sends a step as its difference from
        the step before and applies it in place to the values of steps the page has not shown yet, so a value
        left out of a later step would undo an earlier one the page is still behind on (a card left waiting)."""
        text = well_formed(text or "").strip()
        names = [n for n in self.models if n in (names or [])]
        problem = ("Type a German sentence to translate." if not has_words(text) else
                   "Choose at least one architecture." if not names else None)
        if problem is not None:  # say so, and clear the cards: they describe a sentence no longer asked about
            yield self.cleared(f"**{problem}**")
            return
        try:
            run = Translating(self.models, text, names, beam if decoding == "beam" else 1, penalty, max_len)
            steps = iter(run)
            reference = run.reference
        except Exception as e:  # never a stack trace in the page
            yield self.cleared(failure("Translation", e))
            return
        out = {self.state: {}, self.status: translating_markdown(0, len(names)), self.shown: None,
               self.menus_state: MENUS_PENDING}
        for name, card in self.cards.items():
            out[card.state] = WAITING if name in names else HIDDEN
        yield dict(out)
        done = 0
        while True:
            try:
                name, result = next(steps)
            except StopIteration:
                break
            except Exception as e:  # never a stack trace in the page
                yield {**out, **self.cleared(failure("Translation", e))}
                return
            done += 1
            out.update({self.state: dict(run.results),
                        self.status: translating_markdown(done, len(names), run.messages),
                        **self.card_update(name, run.results)})
            if done < len(names) and done % STEP_MODELS == 1 % STEP_MODELS:
                yield dict(out)
        results, messages = run.results, run.messages
        out.update({self.state: results, self.status: messages_markdown(messages),
                    self.shown: {"text": text, "reference": reference, "messages": messages}})
        yield out

    def card_update(self, name: str, results: dict) -> dict:
        """One card's outputs for ``results``: filled with its model's result (its default map), or hidden when there
        is none."""
        card = self.cards[name]
        if name not in results:
            return {card.state: HIDDEN}
        _, _, plot, _, _, stats = self.on_view(name, results, self.models.kinds(name)[0], None, MEAN)
        return {card.state: SHOWN, card.text: translation_html(results[name]), card.stats: result_line(results[name]),
                card.plot: plot, card.map_stats: stats}

    def cleared(self, status: str) -> dict:
        """The Translate tab with only ``status``: no card left from an earlier sentence (``finishing`` hides the
        reference and the download)."""
        out = {self.state: {}, self.status: status, self.shown: None}
        out.update({card.state: HIDDEN for card in self.cards.values()})
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
        def no_map(plot):    # the card's map only: no layer or head to choose, no small multiples, no statistics
            closed = gr.Accordion(visible=False, open=False)
            return gr.Dropdown(visible=False), gr.Dropdown(visible=False), plot, closed, None, ""

        if name not in (results or {}):
            return no_map(None)
        m, result = self.models, results[name]
        if result.notice:    # no translation (it knows none of the words): the card's map says why
            return no_map(message_figure(result.notice))
        try:
            f = card_figures(m, result, kind, None if layer is None else int(layer), MEAN if head is None else int(head),
                             units)
        except MapTooLong as e:
            return no_map(message_figure(str(e)))
        v, t = f.view, result.translation
        layers = gr.Dropdown(grid_choices(v.layers), value=f.layer, visible=v.layers > 1)
        heads = gr.Dropdown(grid_choices(v.heads), value=f.head, visible=v.heads > 1)
        if kind in ATTRIBUTIONS:   # its own rows: the pieces
            attention = result_map(m, result)[1] if m.translators[name].has_attention else None
            stats = attribution_markdown(kind, result_attribution(m, result, kind), t.output_labels, attention,
                                         t.src_tokens)
        else:
            stats = map_stats_markdown(api.map_statistics(kind, f.shown, v.columns), f.title, v.rows, v.columns,
                                       self_attention=kind.endswith("_self"))
        trust = faithfulness_line(m.translators[name].metrics, kind, f.layer, f.head)   # MEAN: the mean's figures
        # the small multiples close and empty: they are drawn again, for this map, when opened (never stale)
        box = gr.Accordion(visible=f.overview is not None, open=False,
                           label=f"Small multiples: {f.overview}" if f.overview else "")
        return layers, heads, f.plot, box, None, paragraphs(stats, trust)

    def on_overview(self, name: str, results: dict, kind: str):
        """The small multiples of a card's current map, when its accordion is opened."""
        if name not in (results or {}) or results[name].notice:      # notice: no translation, so no map
            return None
        try:
            return card_overview(self.models, results[name], kind)
        except MapTooLong as e:
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
            trigger(self.on_family, [self.f_text], self.f_outputs, **api.progress_on(self.f_status),
                    **api.USES_MODELS)

    def on_family_opened(self, shown: bool, text: str) -> dict:
        """The tab shown: its example run through every member the first time, left as it is after that."""
        return gr.skip() if shown else self.on_family(text)

    def on_family(self, text) -> dict:
        """Every member's translation and map of one sentence; a refused sentence clears the last one's cards."""
        try:
            maps, reference, messages = family_maps(self.family, text)
        except RequestError as e:
            cleared = {c: (None if isinstance(c, gr.Plot) else "") for card in self.f_cards.values() for c in card}
            return {**cleared, self.f_status: bold(e)}
        out = {self.f_shown: True, self.f_status: family_status(reference, messages)}
        for m in maps:
            t = m.result.translation
            text, plot, stats = self.f_cards[m.name]
            if m.result.notice:
                out.update({text: bold(m.result.notice), plot: message_figure(m.result.notice), stats: ""})
                continue
            out[text] = family_line(t)
            what = mean_label("cross", self.family.translators[m.name].model)
            view = map_view("cross", m.weights, t.output_labels, t.src_tokens, t.copied)
            out[plot] = heatmap(view, title=f"{m.name}: {what}")
            out[stats] = map_stats_markdown(m.statistics, what, t.output_labels, t.src_tokens)
        return out


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
