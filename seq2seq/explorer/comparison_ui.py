"""The page's parts that compare the models on the whole test set, laid out with Gradio (``app.py`` places them):
the Leaderboard's sections (significance, scores by bucket, attention coverage against missed words) and the
Compare tab's list of the sentences where two models differ most. They read ``comparison.TestComparison`` only:
nothing is translated until a person clicks a sentence, which runs the Compare tab's own comparison."""

from __future__ import annotations

import gradio as gr

from ..analysis.differences import ORDERS
from . import api
from ..analysis.outputs import COVERAGE_THRESHOLD
from .comparison import TestComparison
from .comparison_figures import bucket_figure, confidence_figure, coverage_figure, significance_matrix, word_accuracy_figure
from .text import md

INTRO = {
    "significance": ("### Are the differences real?\nA test set of 1,000 sentences is a sample: a model ahead by a "
                     "few tenths of BLEU may be ahead by chance. Each model's score below comes with its 95% confidence "
                     "interval, and every pair is tested with sacreBLEU's paired bootstrap resampling and approximate "
                     "randomization on the same sentences (`python -m seq2seq.compare checkpoints` computes them)."),
    "buckets": ("### Where each model loses\nThe test set cut into buckets, as compare-mt does: corpus scores of the "
                "sentences of each source length, and of each training count of the sentence's rarest German word "
                "(\"0\": a word the model never saw); then compare-mt's word accuracy, the F-measure of English words "
                "by how often they occur in training."),
    "coverage": ("### Attention coverage and the words a translation missed\nA source word's *coverage* is the total "
                 "attention all output words gave it; below the threshold it is *unattended*. A source word counts as "
                 "*missed* when none of the reference words it is aligned to (eflomal's alignment of the reference) "
                 "appears in the translation: dropped, or said with another word. If low coverage flags dropped words, "
                 "the first bar of a model is much longer than its second. In the table, over the source words aligned "
                 "to the reference (punctuation left out): the share *missed*, the share *unattended*, *unattended | "
                 "missed* (of the missed words, the share unattended), *unattended | translated*, and *missed | "
                 "unattended* against *missed | attended* (how often a word is missed with and without attention). The "
                 "LSTM and GRU have no attention: the table gives how much they miss."),
    "differences": ("### Where A and B differ on the test set\nThe test sentences ranked by the difference between "
                    "the two models' sentence scores (beam 5). Filter by the German sentence's length and by how often "
                    "its rarest word occurs in training; click a sentence to open it above, both maps along its "
                    "reference, and in the Inspect tab."),
}


def leaderboard_sections(c: TestComparison) -> None:
    """The Leaderboard's whole-test-set sections (called inside its tab), or the note saying how to make them."""
    gr.Markdown(INTRO["significance"])
    note = c.note()
    if note:
        gr.Markdown(note, elem_id="comparison-note")
    if not c.available:
        return
    names = c.ordered
    significance = c.significance or {}
    gr.Markdown(c.significance_summary(), elem_id="significance-summary")
    gr.Plot(confidence_figure(significance.get("models", {}), names,
                              f"Test score and 95% confidence interval ({c.split}, beam {c.beam})"),
            show_label=False, elem_id="confidence-plot")
    pairs = {"data": c.pairs()}
    metric = gr.Radio([("BLEU", "bleu"), ("chrF", "chrf")], value="bleu", label="Difference in", elem_id="matrix-metric")
    matrix = gr.Plot(significance_matrix(pairs["data"], names, "bleu", c.alpha, "Every pair: A − B, and is it real?"),
                     show_label=False, elem_id="significance-matrix")
    metric.change(lambda m: significance_matrix(pairs["data"], names, m, c.alpha, "Every pair: A − B, and is it real?"),
                  [metric], [matrix], **api.progress_on(matrix), **api.PRIVATE)
    gr.Dataframe(c.pair_rows(), interactive=False, pinned_columns=1, elem_id="pairs", wrap=True,
                 column_widths=["200px"] + ["96px"] * 6 + ["150px"])
    gr.Dataframe(c.model_rows(), interactive=False, pinned_columns=1, elem_id="confidence-table")

    gr.Markdown(INTRO["buckets"])
    bucket_metric = gr.Radio([("BLEU", "bleu"), ("chrF", "chrf")], value="bleu", label="Score",
                             elem_id="bucket-metric")
    with gr.Row(equal_height=False):
        length = gr.Plot(_length(c, "bleu"), show_label=False, elem_id="length-buckets", min_width=360)
        rarest = gr.Plot(_rarest(c, "bleu"), show_label=False, elem_id="rarest-buckets", min_width=360)
    bucket_metric.change(lambda m: (_length(c, m), _rarest(c, m)), [bucket_metric], [length, rarest],
                         **api.progress_on(length, rarest), **api.PRIVATE)
    gr.Plot(word_accuracy_figure(c.outputs, names, "Word accuracy by training frequency"), show_label=False,
            elem_id="word-accuracy")

    gr.Markdown(INTRO["coverage"])
    threshold = gr.Slider(0.1, 1.0, value=COVERAGE_THRESHOLD, step=0.05, label="Unattended: coverage below",
                          elem_id="coverage-threshold")
    plot = gr.Plot(_coverage(c, COVERAGE_THRESHOLD), show_label=False, elem_id="coverage-plot")
    table = gr.Dataframe(c.coverage_rows(COVERAGE_THRESHOLD), interactive=False, pinned_columns=1, wrap=True,
                         column_widths=["120px"] + ["112px"] * 7, elem_id="coverage-table")
    threshold.release(lambda t: (_coverage(c, t), c.coverage_rows(t)), [threshold], [plot, table],
                      **api.progress_on(table), **api.PRIVATE)


def _length(c: TestComparison, metric: str):
    return bucket_figure(c.outputs, c.ordered, "length", metric, "By the length of the German sentence",
                         "source words")


def _rarest(c: TestComparison, metric: str):
    return bucket_figure(c.outputs, c.ordered, "rarest", metric, "By its rarest word's count in training",
                         "training count of the sentence's rarest German word")


def _coverage(c: TestComparison, threshold: float):
    missing = {row[0]: float(row[2].rstrip("%")) / 100 for row in c.coverage_rows(threshold)["data"] if row[2]}
    return coverage_figure(c.coverage(threshold), missing, c.ordered,
                           threshold, "Source words left unattended, missed or translated")


class DifferencesPanel:
    """The Compare tab's list of the test sentences where models A and B differ most (``inspector``'s Compare
    components choose A and B and show a clicked sentence; its Inspect components receive it too)."""

    def __init__(self, comparison: TestComparison, inspector):
        self.c, self.i = comparison, inspector

    def layout(self):
        c, i = self.c, self.i
        gr.Markdown(INTRO["differences"])
        if not c.available:
            gr.Markdown(c.note(), elem_id="differences-note")
            return
        with gr.Row(equal_height=True):
            self.metric = gr.Radio([("sentence BLEU", "bleu"), ("sentence chrF", "chrf")], value="bleu",
                                   label="Score", scale=1, min_width=200, elem_id="differences-metric")
            self.order = gr.Radio([(label, key) for key, label in ORDERS.items()], value="either", label="List",
                                  scale=2, min_width=280, elem_id="differences-order")
        top = c.max_length()
        with gr.Row(equal_height=True):
            self.shortest = gr.Slider(1, top, value=1, step=1, label="German words: at least", min_width=200,
                                      elem_id="differences-shortest")
            self.longest = gr.Slider(1, top, value=top, step=1, label="at most", min_width=200,
                                     elem_id="differences-longest")
            self.rarest = gr.Dropdown(c.rarest_choices(), value=-1, label="Sentences with", min_width=240,
                                      elem_id="differences-rarest")
        frame, _, line = c.differences(i.c_a.value, i.c_b.value)
        self.status = gr.Markdown(line, elem_id="differences-status")
        self.table = gr.Dataframe(frame, interactive=False, wrap=True, max_height=520, pinned_columns=1,
                                  column_widths=["56px", "64px", "56px", "56px", "236px", "236px", "236px", "236px"],
                                  elem_id="differences")
        inputs = [i.c_a, i.c_b, self.metric, self.order, self.shortest, self.longest, self.rarest]
        for control in (i.c_a, i.c_b, self.metric, self.order, self.rarest):
            control.change(self.on_filter, inputs, [self.table, self.status], **api.progress_on(self.status),
                           **api.PRIVATE)
        for slider in (self.shortest, self.longest):
            slider.release(self.on_filter, inputs, [self.table, self.status], **api.progress_on(self.status),
                           **api.PRIVATE)
        opened = [i.c_text, i.c_along, i.text, i.name, i.reference, i.status, self.status]
        self.table.select(self.on_pick, [i.c_a, i.c_b, self.metric, self.order, self.shortest, self.longest,
                                         self.rarest], i.c_outputs + opened,
                          **api.progress_on(self.status, i.c_status), **api.USES_MODELS).then(
            None, None, None, js="() => document.querySelector('#compare-status')?.scrollIntoView({block: 'center'})",
            api_visibility="private")

    def on_filter(self, a, b, metric, order, shortest, longest, rarest):
        frame, _, line = self.c.differences(a, b, metric, order, shortest, longest, rarest)
        return gr.Dataframe(value=frame, headers=frame["headers"]), line

    def on_pick(self, a, b, metric, order, shortest, longest, rarest, evt: gr.SelectData) -> dict:
        """A sentence clicked: compare A's and B's maps along its reference, and hand it to the Inspect tab (its
        sentence, model A and the reference, ready for Inspect)."""
        i = self.i
        row = evt.row_value or []
        try:
            index = int(row[0]) - 1
        except (TypeError, ValueError, IndexError):
            return {self.status: "**Click a row of the list.**"}
        sentence = self.c.sentence(index)
        if sentence is None:
            _, _, line = self.c.differences(a, b, metric, order, shortest, longest, rarest)
            return {self.status: line + f"  \n**Test sentence {index + 1} cannot be opened without the German.**"}
        source, reference = sentence
        out = i.on_compare(source, a, b, "reference")
        _, _, line = self.c.differences(a, b, metric, order, shortest, longest, rarest)
        out.update({i.c_text: source, i.c_along: "reference", i.text: source, i.name: a, i.reference: reference,
                    i.status: (f"Test sentence {index + 1}, opened from the Compare tab's list with {md(a)}: press "
                               f"**Inspect** (or choose {md(b)}) to see it decoded."),
                    self.status: line + f"  \nOpened test sentence **{index + 1}** above (A and B along its "
                                        f"reference) and in the Inspect tab."})
        return out


def differences_panel(comparison: TestComparison, inspector) -> DifferencesPanel:
    panel = DifferencesPanel(comparison, inspector)
    panel.layout()
    return panel
