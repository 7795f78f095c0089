"""The Inspect and Compare tabs, laid out with Gradio (``app.py`` places them): one model and one sentence
in depth (step by step, what-if, teacher forcing, beam search, attributions, the lenses, alignment over
epochs), and two models' maps of one sentence differenced. Their callbacks are plain methods, so tests can
call them directly; what they show is computed by ``service`` (``Inspection``, ``compare``), drawn by
``figures`` and ``cards`` and written by ``text``."""

from __future__ import annotations

import gradio as gr

from ..analysis.lens import encoder_layers
from ..analysis.maps import MapTooLong, map_view, mean_label
from ..analysis.probes import PROBE_SENTENCES
from ..papers import PAPER_ORDER
from . import api
from .cards import probe_figure
from .examples import DEMO, TEST_EXAMPLES
from .figures import beam_tree, contrast_figure, difference_heatmap, heatmap, lens_figure, mark_forced, message_figure
from .figures import scale_notes, source_prefix_figure, stepper
from .service import (MAX_INPUT_CHARS, Inspection, ModelSet, RequestError, compare, has_words, output_tokens,
                      well_formed)
from .text import (SECTIONS, bold, comparison_status, contrast_markdown, decoder_lens_markdown, failure,
                   inspection_status, map_stats_markdown, numbered, source_prefix_markdown, unknown_note,
                   what_if_markdown)

NBEST_HEADERS = ["#", "translation", "score = log-prob / length^α", "log-probability"]
INSPECT_FIRST = "Inspect a sentence first."


def map_figure(kind: str, weights, rows: list[str], columns: list[str], title: str, copied=(), notes=()):
    """``copied``: rows whose word was copied from the source (marked); ``notes``: small lines under the title."""
    return heatmap(map_view(kind, weights, rows, columns, copied), title=title, notes=tuple(notes))


def stats_of(kind: str, what: str, weights, rows: list[str], columns: list[str]) -> str:
    """The statistics under a map of ``kind`` called ``what`` (``maps.mean_label``)."""
    return map_stats_markdown(api.map_statistics(kind, weights, columns), what, rows, columns)


def last_of_papers(names: list[str]) -> str | None:
    """The last of the papers' models among ``names`` (the Transformer), else the last name; None if none."""
    return next((n for n in reversed(names) if n in PAPER_ORDER), names[-1] if names else None)


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
            self.name = gr.Dropdown([(m.title(n), n) for n in names], value=last_of_papers(names),
                                    label="Model", scale=1, elem_id="inspect-model")
            self.button = gr.Button("Inspect", variant="primary", scale=1, elem_id="inspect-button")
        gr.Examples([[s] for s, _ in TEST_EXAMPLES], self.text, label="Test sentences (their reference is forced below)",
                    cache_examples=False, examples_per_page=6)
        self.status = gr.Markdown(elem_id="inspect-status")
        self.state = gr.State(None)
        # The JSON is written when the button is pressed (on_download), from the inspection shown then.
        self.download = api.download_button("Download this inspection (JSON)", "inspect-download", self.on_download,
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
        self.sp_alti = gr.Plot(show_label=False, visible=False, elem_id="source-prefix-alti")   # the Transformer's
        self.sp_alti_text = gr.Markdown(visible=False, elem_classes=["map-stats"], elem_id="source-prefix-alti-text")
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

        run_opts = api.USES_MODELS
        on = api.progress_on
        inspect_out = [self.state, self.status, self.download, self.steps, self.steps_stats, self.prefix, self.at,
                       self.word, self.whatif_text, self.whatif, self.whatif_stats, self.reference, self.free,
                       self.free_stats, self.forced, self.forced_stats, self.nbest, self.tree, self.epochs,
                       self.sp_plot, self.sp_text, self.sp_alti, self.sp_alti_text, self.ct_step, self.ct_plot,
                       self.ct_text]
        self.inspect_out = inspect_out
        self.opened_inputs = [self.state, self.status, self.text, self.name, self.beam, self.penalty, self.probe]
        for trigger in (self.button.click, self.text.submit):
            trigger(self.on_inspect, [self.text, self.name, self.beam, self.penalty, self.probe], inspect_out,
                    **on(self.status), **run_opts)
        whatif_out = [self.state, self.download, self.prefix, self.whatif_text, self.whatif, self.whatif_stats]
        for trigger in (self.go.click, self.prefix.submit):
            trigger(self.on_continue, [self.state, self.prefix], whatif_out, **on(self.whatif), **run_opts)
        self.at.input(self.on_step, [self.state, self.at], [self.word], **on(self.word), **api.PRIVATE)
        self.word.input(self.on_pick, [self.state, self.at, self.word], whatif_out, **on(self.whatif), **run_opts)
        for trigger in (self.force_button.click, self.reference.submit):
            trigger(self.on_force, [self.state, self.reference],
                    [self.state, self.download, self.forced, self.forced_stats], **on(self.forced), **run_opts)
        for slider in (self.beam, self.penalty):
            slider.release(self.on_beam, [self.state, self.beam, self.penalty],
                           [self.state, self.download, self.nbest, self.tree], **on(self.nbest, self.tree), **run_opts)
        self.probe.input(self.on_probe, [self.name, self.probe], [self.epochs], **on(self.probe), **api.PRIVATE)
        self.sp_button.click(self.on_source_prefix, [self.state],
                             [self.sp_plot, self.sp_text, self.sp_alti, self.sp_alti_text],
                             **on(self.sp_plot), **run_opts)
        for trigger in (self.ct_go.click, self.ct_foil.submit):
            trigger(self.on_contrast, [self.state, self.ct_step, self.ct_foil], [self.ct_plot, self.ct_text],
                    **on(self.ct_plot), **run_opts)
        self.lens_button.click(self.on_lens, [self.state], [self.lens_plot], **on(self.lens_plot), **run_opts)
        self.dl_button.click(self.on_decoder_lens, [self.state, self.dl_layer], [self.dl_text, self.dl_plot],
                             **on(self.dl_plot), **run_opts)
        # one model per inspection: choosing another model inspects the same sentence again with it
        self.name.input(self.on_model, [self.state, self.text, self.name, self.beam, self.penalty, self.probe],
                        inspect_out, **on(self.status), **run_opts)

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
            self.c_b = gr.Dropdown([(m.title(n), n) for n in names], value=last_of_papers(attending),
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
        self.c_download = api.download_button("Download the comparison (JSON)", "compare-download",
                                              self.on_compare_download, [self.c_state])
        with gr.Row(equal_height=False):
            self.c_plot_a = gr.Plot(show_label=False, elem_id="compare-plot-a", min_width=380)
            self.c_plot_b = gr.Plot(show_label=False, elem_id="compare-plot-b", min_width=380)
        self.c_diff = gr.Plot(show_label=False, elem_id="compare-difference")
        self.c_outputs = [self.c_state, self.c_status, self.c_download, self.c_plot_a, self.c_plot_b, self.c_diff]
        self.c_opened_inputs = [self.c_state, self.c_text, self.c_a, self.c_b, self.c_along]
        for trigger in (self.c_button.click, self.c_text.submit):
            trigger(self.on_compare, [self.c_text, self.c_a, self.c_b, self.c_along], self.c_outputs,
                    **api.progress_on(self.c_status), **api.USES_MODELS)

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
        if state is not None or (status or "").strip():
            return gr.skip()
        return self.on_inspect(text, name, beam, penalty, probe)

    def on_inspect(self, text, name, beam, penalty, probe) -> dict:
        """Decode the sentence with one model and fill every view."""
        try:
            i = Inspection.run(self.models, name, text)
        except RequestError as e:
            return {self.status: bold(e)}
        except Exception as e:  # never a stack trace in the page
            return {self.status: failure("Inspection", e)}
        t, (kind, weights) = i.translation, i.map
        what = mean_label(kind, self.models.translators[name].model)
        reference = self.models.reference(i.text)
        stats = stats_of(kind, what, weights, t.output_labels, t.src_tokens)
        out = {
            self.status: inspection_status(self.models.title(name), t),
            self.steps: stepper(i.steps, name), self.steps_stats: stats,
            self.prefix: " ".join(t.raw_tokens),
            self.at: gr.Dropdown(numbered(i.steps.written), value=None),
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
        out.update({self.sp_plot: message_figure("Press “Attribute every word” to see where each word came from."),
                    self.sp_text: "", self.sp_alti: gr.Plot(None, visible=False),
                    self.sp_alti_text: gr.Markdown("", visible=False), self.ct_plot: message_figure("Pick an output word and type another word."),
                    self.ct_text: "", self.ct_step: gr.Dropdown(numbered(t.output_labels), value=None)})
        out.update({self.epochs: self.on_probe(name, probe), self.state: i, self.download: self.export(i)})
        return out

    def on_source_prefix(self, i: Inspection | None):
        """Integrated gradients of every output word over the source and the words already written; and, for a
        model that has them (the Transformer), ALTI+'s contributions of both beside them."""
        hidden = gr.Plot(None, visible=False), gr.Markdown("", visible=False)
        if i is None:
            return message_figure(INSPECT_FIRST), "", *hidden
        alti = i.source_prefix(self.models, "alti")           # one forward pass; None without ALTI+
        t = i.translation
        shown = hidden if alti is None else (
            gr.Plot(source_prefix_figure(alti.source, alti.prefix, alti.source_share, t.output_labels, t.src_tokens,
                                         f"{i.name}: ALTI+ contributions of source and written words", signed=False),
                    visible=True),
            gr.Markdown(source_prefix_markdown(alti, "ALTI+"), visible=True))
        try:
            sp = i.source_prefix(self.models)
        except MapTooLong as e:
            return message_figure(str(e)), "", *shown
        return source_prefix_figure(sp.source, sp.prefix, sp.source_share, t.output_labels, t.src_tokens,
                                    f"{i.name}: integrated gradients over source and written words"), \
            source_prefix_markdown(sp), *shown

    def on_contrast(self, i: Inspection | None, step, foil):
        """Why the word at ``step`` rather than ``foil``."""
        if i is None:
            return message_figure(INSPECT_FIRST), ""
        try:
            c = i.contrast(self.models, step, foil)
        except (RequestError, MapTooLong) as e:
            return message_figure(str(e)), ""
        return contrast_figure(c["attribution"], i.translation.src_tokens,
                               f"{i.name}: why “{c['word']}” and not “{c['foil']}”"), contrast_markdown(c)

    def on_lens(self, i: Inspection | None):
        """The logit lens along the inspected translation."""
        if i is None:
            return message_figure(INSPECT_FIRST)
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
            return "", message_figure(INSPECT_FIRST)
        try:
            t, (kind, weights) = i.decoder_lens(self.models, layer)
        except RequestError as e:
            return "", message_figure(str(e))
        title = f"{self.models.title(i.name)} reading encoder layer {int(layer)}: {mean_label(kind, self.models.translators[i.name].model)}"
        return decoder_lens_markdown(int(layer), t), map_figure(kind, weights, t.output_labels, t.src_tokens, title)

    def on_model(self, i: Inspection | None, text, name, beam, penalty, probe) -> dict:
        """Another model chosen: every view is redone for it (before any inspection, only the epochs view)."""
        if i is None:
            return {self.epochs: self.on_probe(name, probe)}
        text = text if has_words(text or "") else i.text
        if name == i.name and well_formed(text).strip()[:MAX_INPUT_CHARS] == i.text:
            return gr.skip()   # already shown (a menu can send its choice twice): redoing it would reset what-if
        return self.on_inspect(text, name, beam, penalty, probe)

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
            return gr.skip()
        prefix = i.steps.written[: int(at)] + [word]
        out = self.continuation(i, prefix)
        return {**out, self.prefix: " ".join(prefix), self.state: i, self.download: self.export(i)}

    def continuation(self, i: Inspection, prefix: list[str]) -> dict:
        """The what-if views for one forced start of the output."""
        if not prefix:
            return {self.whatif_text: "**Type the start of an output first** (the model then continues from it)."}
        try:
            w = i.continue_with(self.models, prefix)
        except MapTooLong as e:  # the continuation stands; say why there is no map
            return {self.whatif_text: "", self.whatif: message_figure(str(e)), self.whatif_stats: ""}
        t, (kind, weights), forced = w["translation"], w["map"], w["forced"]
        what = mean_label(kind, self.models.translators[i.name].model)
        fig = mark_forced(map_figure(kind, weights, t.output_labels, t.src_tokens,
                                     f"{i.name}: {what} · the first {forced} word(s) forced", t.copied), forced)
        return {self.whatif: fig, self.whatif_text: what_if_markdown(prefix, t, w["unknown"]),
                self.whatif_stats: stats_of(kind, what, weights, t.output_labels, t.src_tokens)}

    def on_force(self, i: Inspection | None, reference: str) -> dict:
        if not i:
            return {self.forced_stats: "**Press Inspect first.**"}
        return {**self.forcing(i, reference), self.state: i, self.download: self.export(i)}

    def forcing(self, i: Inspection, reference: str) -> dict:
        """Teacher forcing: the reference (or any output) written through the model, and its map."""
        try:
            f = i.force(self.models, reference)
        except MapTooLong as e:
            return {self.forced: message_figure(str(e)), self.forced_stats: ""}
        if f is None:
            return {self.forced: message_figure("Type a reference translation above and press Force it."),
                    self.forced_stats: ""}
        t, (kind, weights) = f["translation"], f["map"]
        what = mean_label(kind, self.models.translators[i.name].model)
        title = f"{i.name}: {what} · teacher-forced (log-probability {t.log_prob:.2f})"
        return {self.forced: map_figure(kind, weights, t.output_labels, t.src_tokens, title),
                self.forced_stats: unknown_note(i.name, f["unknown"]) + stats_of(kind, what, weights, t.output_labels,
                                                                                  t.src_tokens)}

    def on_beam(self, i: Inspection | None, beam, penalty) -> dict:
        if not i:
            return gr.skip()
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
            return self.compare_cleared(bold(e))
        except Exception as e:  # e.g. the models read the sentence differently
            return self.compare_cleared(failure("Comparison", e))
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
        return gr.skip() if shown else self.on_compare(text, a, b, along)

    def compare_cleared(self, message: str) -> dict:
        return {self.c_state: None, self.c_status: message, self.c_download: gr.Button(visible=False),
                self.c_plot_a: None, self.c_plot_b: None, self.c_diff: None}

    def on_compare_download(self, shown) -> str | None:
        """The Compare tab's download, written now that it is asked for: the comparison on the tab (None before one)."""
        if not shown:
            return None
        text, along, (a, b), c = shown
        return api.download_file(api.comparison_json(text, along, (a, b), c), f"compare-{a}-{b}")
