"""The web app: type a German sentence, watch every architecture translate it side by side,
and see where each one looks while it writes each word.

    python app.py [--checkpoints DIR | hf://USER/NAME] [--host 127.0.0.1] [--port 7860] [--share]

Every checkpoint under ``--checkpoints`` is loaded once at start-up (on the GPU when there is
one); a checkpoint that fails to load is listed with the reason and the rest are served.
This file is only the layout and the callbacks: translation, saliency, references and
figures all come from the ``seq2seq`` library. ``translate`` is also a programmatic endpoint
(``api_name="translate"``) returning translations, attention matrices and their statistics as JSON,
and ``continue`` one model's what-if decoding. The Inspect tab shows one model in depth (step by
step, what-if, teacher forcing, beam search tree, alignment over epochs), the Compare tab two
models' maps differenced (``seq2seq.analysis.inspection``).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gradio as gr
import torch

from seq2seq import ARCHITECTURES, CheckpointError, Tokenizer
from seq2seq.analysis import inspection
from seq2seq.checkpoint import FILES, find_checkpoints, read_config, read_metrics
from seq2seq.evaluate import sentence_bleu
from seq2seq.explorer.examples import DEMO, EVERYDAY, TEST_EXAMPLES, load_references, normalise
from seq2seq.explorer.figures import KIND_NAMES, attention_view, difference_heatmap, epochs_figure, heatmap, map_view
from seq2seq.explorer.figures import beam_tree as beam_tree_figure
from seq2seq.explorer.figures import mark_forced, message_figure, overview, saliency_view, stepper
from seq2seq.analysis.probes import PROBE_SENTENCES
from seq2seq.analysis.saliency import SaliencyTooLong, translation_saliency
from seq2seq.analysis.stats import summary
from seq2seq.translator import Translation, load_checkpoint

ROOT = Path(__file__).resolve().parent
MEAN = -1                    # the head choice "mean of the heads"
OVERVIEW_MAX_CELLS = 2500    # larger maps get no small multiples (they would be unreadable and slow)
KIND_ORDER = ("cross", "encoder_self", "decoder_self", "saliency")
# What a request may ask for: the ranges of the Translate tab's sliders (API requests are checked against them).
BEAM_SIZES, LENGTH_PENALTIES, MAX_LENS = (1, 10), (0.0, 2.0), (0, 200)
MAX_INPUT_CHARS = 20_000     # longer input is cut: the models read at most 200 tokens of it anyway
QUEUE_SIZE = 64              # requests waiting at once (about a minute's wait on 2 CPUs); more are told the queue is full
MODEL_LOCK = threading.RLock()  # one request at a time uses the models (saliency hooks into them; 2 CPUs)


# ---------------------------------------------------------------------------- models


def resolve(spec: str) -> Path:
    """A checkpoints directory from a local path or ``hf://USER/NAME`` (a Hub snapshot)."""
    if spec.startswith("hf://"):
        from seq2seq.tools.hub import resolve_checkpoints

        return Path(resolve_checkpoints(spec))
    return Path(spec).expanduser()


class Models:
    """Every checkpoint under one directory, loaded once; and those that failed, with the reason."""

    def __init__(self, spec: str | Path, device: str | None = None):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.translators, self.failures = {}, []
        self.references = load_references()   # test sentence -> reference translation
        try:
            self.root = resolve(str(spec))
        except Exception as e:  # a Hub download that failed: serve nothing, say why
            self.root, self.failures = Path(str(spec)), [(str(spec), str(e))]
            return
        found = find_checkpoints(self.root)
        for d in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if d not in found and any((d / f).is_file() for f in FILES):
                self.failures.append((d.name, f"{d / 'config.json'} is missing"))
        for path in found:
            try:
                self.translators[path.name] = load_checkpoint(path, self.device)
            except Exception as e:  # CheckpointError, and anything else a broken file may raise
                self.failures.append((path.name, str(e)))

    def __iter__(self):
        return iter(self.translators)

    def title(self, name: str) -> str:
        t = self.translators[name]
        return name if name == t.arch else f"{name} ({t.arch})"


@lru_cache(maxsize=None)
def tokenizer(lang: str) -> Tokenizer:
    return Tokenizer(lang)


@dataclass
class Result:
    """One model's translation of the current input, with what the cards show of it."""

    name: str
    translation: Translation
    seconds: float
    bleu: float | None = None
    saliency: torch.Tensor | None = None


def run(models: Models, text: str, names: list[str], beam_size: int = 1, length_penalty: float = 1.0,
        max_len: int = 0) -> tuple[dict[str, Result], str | None, list[str]]:
    """Translate ``text`` with each named model. Returns the results, the reference translation
    (when the input is a test sentence) and messages for the user."""
    messages = []
    if len(text) > MAX_INPUT_CHARS:
        text = text[:MAX_INPUT_CHARS]
        messages.append(f"Only the first {MAX_INPUT_CHARS:,} characters of this long input are read.")
    reference = models.references.get(normalise(text))
    results = {}
    with MODEL_LOCK:
        for name in names:
            translator = models.translators[name]
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # truncation is reported below
                    [t] = translator.translate([text], beam_size=int(beam_size), length_penalty=float(length_penalty),
                                               max_len=int(max_len) or None)
                result = Result(name, t, time.perf_counter() - start)
                if not translator.has_attention:
                    try:
                        result.saliency = translation_saliency(translator, t)
                    except SaliencyTooLong as e:  # the translation stands; its card says why there is no map
                        messages.append(f"{name}: {e}")
            except Exception as e:  # one broken model must not take the others down
                messages.append(f"{name} failed: {e}")
                continue
            if reference is not None:
                result.bleu = sentence_bleu(t.tokens, tokenizer(translator.config["trg_lang"])(reference))
            if t.truncated:
                messages.append(f"{name} read only the first {len(t.src_tokens)} tokens of this long input.")
            results[name] = result
    return results, reference, messages


def has_words(text: str) -> bool:
    """Whether there is anything to translate: not only spaces, control and invisible characters."""
    return any(c.isprintable() and not c.isspace() for c in text)


def view(models: Models, result: Result, kind: str):
    """The chosen map of a result: an attention kind, or saliency (computed on first use)."""
    if kind == "saliency":
        if result.saliency is None:
            with MODEL_LOCK:
                result.saliency = translation_saliency(models.translators[result.name], result.translation)
        return saliency_view(result.translation, result.saliency)
    return attention_view(result.translation, kind)


def kinds(models: Models, name: str) -> list[str]:
    """The maps a model offers: its attention kinds, then gradient x input saliency (any model)."""
    offered = set(models.translators[name].model.attention_kinds) | {"saliency"}
    return [k for k in KIND_ORDER if k in offered]


# ---------------------------------------------------------------------------- JSON endpoint


def checked(name: str, value, low: float, high: float, integer: bool = True) -> int | float:
    """A request's numeric option if it lies in [low, high], else a gr.Error saying what it must be."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        x = math.nan
    if not (math.isfinite(x) and low <= x <= high and (x.is_integer() or not integer)):
        kind = "a whole number" if integer else "a number"
        raise gr.Error(f"{name} must be {kind} from {low} to {high}, not {value!r}.")
    return int(x) if integer else x


def translate_json(models: Models, text: str, architectures: list[str] | None = None, beam_size: int = 1,
                   length_penalty: float = 1.0, max_len: int = 0) -> dict:
    """Translations and attention matrices as plain JSON (nested lists, 4 decimals). A bad request
    raises gr.Error, which the caller receives as a message."""
    if not isinstance(text, (str, type(None))):
        raise gr.Error(f"text must be a string, not {type(text).__name__}.")
    text = (text or "").strip()
    if not has_words(text):
        raise gr.Error("Empty input: give a German sentence to translate.")
    if not isinstance(architectures, (str, list, tuple, type(None))):
        raise gr.Error(f"architectures must be a list of model names, not {type(architectures).__name__}.")
    names = [architectures] if isinstance(architectures, str) else list(architectures or models)
    unknown = [n for n in names if not isinstance(n, str) or n not in models.translators]
    if unknown:
        failed = dict(models.failures)
        why = "".join(f" {n} could not be loaded: {failed[n]}" for n in unknown if isinstance(n, str) and n in failed)
        raise gr.Error(f"Unknown model(s) {unknown}; this app serves {list(models)}.{why}")
    beam_size = checked("beam_size", beam_size, *BEAM_SIZES)
    length_penalty = checked("length_penalty", length_penalty, *LENGTH_PENALTIES, integer=False)
    max_len = checked("max_len", max_len, *MAX_LENS)
    results, reference, messages = run(models, text, names, beam_size, length_penalty, max_len)
    return results_json(models, text, results, reference, messages)


def results_json(models: Models, text: str, results: dict[str, Result], reference: str | None,
                 messages: list[str]) -> dict:
    """The results of ``run`` as plain JSON: per model the translation, attention (or saliency) and
    the statistics of its map (``stats.summary`` of cross-attention averaged over layers and heads,
    or of saliency for models without attention; "map" says which)."""
    out = {}
    for name, r in results.items():
        t = r.translation
        kind, weights = result_map(models, r)
        out[name] = {
            "arch": models.translators[name].arch, "text": t.text, "tokens": t.tokens, "src_tokens": t.src_tokens,
            "output_labels": t.output_labels, "log_prob": round(t.log_prob, 4), "finished": t.finished,
            "seconds": round(r.seconds, 4), "bleu": None if r.bleu is None else round(r.bleu, 2),
            "attention": {k: rounded(v) for k, v in t.attention.items()},
            "saliency": None if r.saliency is None else rounded(r.saliency),
            "statistics": None if weights is None else map_statistics(kind, weights, t.src_tokens),
        }
    return {"source": text, "reference": reference, "messages": messages, "models": out}


# ---------------------------------------------------------------------------- layout and callbacks


@dataclass
class Card:
    """The components of one model's card."""

    column: gr.Column
    text: gr.Textbox
    stats: gr.Markdown
    kind: gr.Dropdown
    layer: gr.Dropdown
    head: gr.Dropdown
    plot: gr.Plot
    overview: gr.Plot
    map_stats: gr.Markdown

    def outputs(self) -> list:
        return [self.column, self.text, self.stats, self.kind, self.layer, self.head, self.plot, self.overview,
                self.map_stats]


def stats_markdown(result: Result) -> str:
    t = result.translation
    parts = [f"log-probability **{t.log_prob:.2f}**", f"{1000 * result.seconds:.0f} ms"]
    if result.bleu is not None:
        parts.append(f"sentence BLEU **{result.bleu:.1f}**")
    if not t.finished:
        parts.append("stopped at the length limit")
    return " · ".join(parts)


def figures(models: Models, result: Result, kind: str, layer: int | None, head: int | None) -> dict:
    """The card's heatmap and overview for a choice of map, layer and head (clamped to what exists)."""
    v = view(models, result, kind)
    layer = v.layers - 1 if layer is None or not 0 <= layer < v.layers else layer
    head = None if head is None or head == MEAN or not 0 <= head < v.heads else head
    where = [f"layer {layer + 1} of {v.layers}"] if v.layers > 1 else []
    where += [("mean of the heads" if head is None else f"head {head + 1} of {v.heads}")] if v.heads > 1 else []
    what = KIND_NAMES[kind]
    if kind == "saliency" and not models.translators[result.name].has_attention:
        what = f"no attention, so {what}"
    title = " · ".join([f"{result.name}: {what}", *where])
    small = v.layers * v.heads > 1 and len(v.rows) * len(v.columns) <= OVERVIEW_MAX_CELLS
    shown = v.select(layer, head)                                                  # [rows, columns]
    stats = map_stats_markdown(map_statistics(kind, shown, v.columns), " · ".join([what, *where]), v.rows, v.columns)
    return dict(plot=heatmap(v, layer, head, title), layer=layer, head=MEAN if head is None else head, view=v,
                overview=overview(v, f"{result.name}: {what}, every layer × head") if small else None, stats=stats)


def build_app(models: Models) -> tuple[gr.Blocks, "UI"]:
    ui = UI(models)
    with gr.Blocks(title="seq2seq attention explorer") as demo:
        ui.layout()
    return demo, ui


class UI:
    """The Gradio layout and its callbacks (plain methods, so tests can call them directly)."""

    def __init__(self, models: Models):
        self.models = models
        self.cards: dict[str, Card] = {}
        self.inspector = Inspector(models)

    # -- layout

    def layout(self):
        m = self.models
        gr.Markdown("# seq2seq attention explorer\nType a German sentence: six classic neural translation "
                    "architectures translate it side by side, each with a map of where it looked while writing "
                    "each English word.")
        if m.failures:
            lines = "\n".join(f"- `{html.escape(n)}`: {html.escape(r)}" for n, r in m.failures)
            gr.Markdown(f"**Could not load {len(m.failures)} checkpoint(s)** (the others are served):\n{lines}",
                        elem_id="load-errors")
        if not m.translators:
            gr.Markdown(f"**No models found under `{html.escape(str(m.root))}`.** Train some with "
                        "`python train.py --arch all`, or start the app with `--checkpoints DIR`.")
        with gr.Tab("Translate"):
            self.translate_tab()
        if m.translators:
            with gr.Tab("Inspect", elem_id="inspect-tab"):
                self.inspector.inspect_tab()
            with gr.Tab("Compare", elem_id="compare-tab"):
                self.inspector.compare_tab()
        with gr.Tab("Leaderboard"):
            gr.Markdown("Scores on Multi30k test_2016_flickr (1,000 sentences), from each checkpoint's `metrics.json`. "
                        "Speed: sentences per second while scoring the test set, on the hardware it was trained on.")
            gr.Dataframe(leaderboard(m.root), interactive=False, elem_id="leaderboard")
        with gr.Tab("About"):
            gr.Markdown(ABOUT, latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                                 {"left": "$", "right": "$", "display": False}])

        def translate(text: str, architectures: list[str] | None = None, beam_size: int = 1,
                      length_penalty: float = 1.0, max_len: int = 0) -> dict:
            """Translate German text with the named models (default: all). beam_size 1 is greedy search;
            max_len 0 means 1.5 x the source length + 10. Returns, per model, the translation, its tokens,
            log-probability, seconds, sentence BLEU (for test sentences) and attention matrices:
            cross [T][layers][heads][S], decoder_self [T][layers][heads][T], encoder_self [layers][heads][S][S];
            models without attention return a saliency matrix [T][S] instead. "statistics" describes each
            model's map (cross-attention averaged over layers and heads, or saliency; "map" says which):
            entropy per output word in bits, mean_entropy, entropy_norm (0..1), diagonality, monotonicity,
            coverage per source word, and the share of weight on punctuation and on <eos> (None: no such column)."""
            return translate_json(m, text, architectures, beam_size, length_penalty, max_len)

        gr.api(translate, api_name="translate", concurrency_id="models")

        def continue_(text: str, architecture: str, prefix: str = "", max_len: int = 0) -> dict:
            """What-if decoding: the model ``architecture`` must start its translation of the German ``text``
            with ``prefix`` (English words) and continues greedily from there (max_len 0: 1.5 x the source
            length + 10, plus the prefix). Returns the tokens, forced_words (how many were forced),
            unknown_words (prefix words outside its vocabulary, written as <unk>; raw_tokens has the <unk>,
            tokens the source word copied in its place), text, log-probability,
            its map [T][S] ("map": cross-attention averaged over layers and heads, or saliency for models
            without attention) and the map's statistics."""
            return continue_json(m, text, architecture, prefix, max_len)

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
            gr.Examples([[s] for s in EVERYDAY], self.text, label="Everyday German", cache_examples=False)
        with gr.Accordion("Models and decoding", open=True):
            self.names = gr.CheckboxGroup([(m.title(n), n) for n in m], value=list(m), label="Architectures")
            with gr.Row():
                self.decoding = gr.Radio(["greedy", "beam"], value="greedy", label="Search", scale=1)
                self.beam = gr.Slider(1, 10, value=5, step=1, label="Beam size", scale=1)
                self.penalty = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="Length penalty (beam)", scale=1)
                self.max_len = gr.Slider(0, 200, value=0, step=1, label="Max length (0: 1.5 × source + 10)", scale=1)
        self.status = gr.Markdown(elem_id="status")
        self.reference = gr.Textbox(label="Reference translation (test_2016_flickr)", visible=False,
                                    interactive=False, elem_id="reference")
        self.state = gr.State({})
        self.download = gr.DownloadButton("Download all results (JSON)", visible=False, size="sm",
                                          elem_id="translate-download")
        names = list(m)
        for row in range(0, len(names), 2):
            with gr.Row(equal_height=False):
                for name in names[row: row + 2]:
                    self.cards[name] = self.card(name)
        outputs = [self.state, self.status, self.reference, self.download]
        outputs += [component for card in self.cards.values() for component in card.outputs()]
        inputs = [self.text, self.names, self.decoding, self.beam, self.penalty, self.max_len]
        for trigger in (self.button.click, self.text.submit):
            trigger(self.on_translate, inputs, outputs, api_visibility="private", concurrency_id="models")

    def card(self, name: str) -> Card:
        t = self.models.translators[name]
        with gr.Column(elem_id=f"card-{name}", elem_classes=["model-card"], min_width=420) as column:
            gr.Markdown(f"### {html.escape(self.models.title(name))}\n{t.model.paper}")
            text = gr.Textbox(show_label=False, interactive=False, placeholder="translation",
                              elem_classes=["translation"])
            stats = gr.Markdown(elem_classes=["stats"])
            choices = kinds(self.models, name)
            with gr.Row():
                kind = gr.Dropdown([(KIND_NAMES[k], k) for k in choices], value=choices[0], label="Map", scale=3,
                                   visible=len(choices) > 1, min_width=160)
                layer = gr.Dropdown([], label="Layer", visible=False, scale=1, min_width=80)
                head = gr.Dropdown([], label="Head", visible=False, scale=1, min_width=80)
            plot = gr.Plot(show_label=False, elem_classes=["heatmap"])
            map_stats = gr.Markdown(elem_classes=["map-stats"])
            small = gr.Plot(show_label=False, visible=False, elem_classes=["overview"])
        card = Card(column, text, stats, kind, layer, head, plot, small, map_stats)
        for control in (kind, layer, head):
            control.input(lambda results, k, l, h, name=name: self.on_view(name, results, k, l, h),
                          [self.state, kind, layer, head], [layer, head, plot, small, map_stats],
                          api_visibility="private")
        return card

    # -- callbacks

    def on_translate(self, text, names, decoding, beam, penalty, max_len) -> dict:
        """Translate with every chosen model; fill each card (hide the others)."""
        text = (text or "").strip()
        names = [n for n in self.models if n in (names or [])]
        problem = ("Type a German sentence to translate." if not has_words(text) else
                   "Choose at least one architecture." if not names else None)
        if problem is not None:  # say so, and leave the cards as they were
            return {self.status: f"**{problem}**"}
        try:
            results, reference, messages = run(self.models, text, names, beam if decoding == "beam" else 1,
                                               penalty, max_len)
        except Exception as e:  # never a stack trace in the page
            return {self.status: f"**Translation failed:** {html.escape(str(e))}"}
        out = {self.state: results, self.status: "\n\n".join(html.escape(msg) for msg in messages),
               self.reference: gr.Textbox(value=reference or "", visible=reference is not None),
               self.download: gr.DownloadButton(visible=bool(results), value=download_file(
                   results_json(self.models, text, results, reference, messages), "translations"))}
        for name, card in self.cards.items():
            out[card.column] = gr.Column(visible=name in results)
            if name in results:
                out.update(self.fill(name, results[name]))
        return out

    def fill(self, name: str, result: Result) -> dict:
        card = self.cards[name]
        choices = kinds(self.models, name)
        out = {card.text: result.translation.text or "(empty)", card.stats: stats_markdown(result),
               card.kind: gr.Dropdown([(KIND_NAMES[k], k) for k in choices], value=choices[0])}
        layer, head, plot, small, map_stats = self.on_view(name, {name: result}, choices[0], None, MEAN)
        out.update({card.layer: layer, card.head: head, card.plot: plot, card.overview: small,
                    card.map_stats: map_stats})
        return out

    def on_view(self, name: str, results: dict, kind: str, layer, head):
        """Redraw one card for a choice of map, layer and head (and the statistics of the map shown)."""
        if name not in (results or {}):
            return gr.Dropdown(visible=False), gr.Dropdown(visible=False), None, gr.Plot(value=None, visible=False), ""
        try:
            f = figures(self.models, results[name], kind, None if layer is None else int(layer),
                        MEAN if head is None else int(head))
        except SaliencyTooLong as e:
            return (gr.Dropdown(visible=False), gr.Dropdown(visible=False), message_figure(str(e)),
                    gr.Plot(value=None, visible=False), "")
        v = f["view"]
        layers = gr.Dropdown([(str(i + 1), i) for i in range(v.layers)], value=f["layer"], visible=v.layers > 1)
        heads = gr.Dropdown([("mean", MEAN)] + [(str(i + 1), i) for i in range(v.heads)], value=f["head"],
                            visible=v.heads > 1)
        return layers, heads, f["plot"], gr.Plot(value=f["overview"], visible=f["overview"] is not None), f["stats"]


# ---------------------------------------------------------------------------- statistics and downloads


KEEP_DOWNLOADS = 200         # JSON files kept for the download buttons (gradio copies each into its cache)
MAX_FORCED_WORDS = MAX_LENS[1]  # a forced output (what-if prefix, reference) is cut to this many words


def output_tokens(translator, text: str) -> list[str]:
    """A typed output (what-if prefix, reference) as the model's target tokens, cut to MAX_FORCED_WORDS."""
    return inspection.target_tokens(translator, (text or "")[:MAX_INPUT_CHARS])[:MAX_FORCED_WORDS]


def rounded(x: torch.Tensor) -> list:
    return torch.round(x.float(), decimals=4).tolist()


def map_statistics(kind: str, weights: torch.Tensor, columns: list[str]) -> dict:
    """``stats.summary`` of one [T, S] map, rounded for JSON, with the name of the map it describes."""
    r4 = lambda v: None if v is None else [round(x, 4) for x in v] if isinstance(v, list) else round(v, 4)  # noqa: E731
    return {"map": kind, **{k: r4(v) for k, v in summary(weights, columns).items()}}


def result_map(models: Models, result: Result) -> tuple[str, torch.Tensor | None]:
    """The map the statistics describe: cross-attention averaged over layers and heads, or saliency (no attention;
    None when the translation is too long for one)."""
    translator = models.translators[result.name]
    if translator.has_attention:
        return inspection.map_of(translator, result.translation)
    if result.saliency is None:
        with MODEL_LOCK:
            try:
                result.saliency = translation_saliency(translator, result.translation)
            except SaliencyTooLong:
                pass
    return "saliency", result.saliency


def md(text: str) -> str:
    """Text shown literally in gr.Markdown: HTML-escaped, and markdown's own characters as entities."""
    return html.escape(text, quote=False).translate({ord(c): f"&#{ord(c)};" for c in "*_`[]\\~|#"})


def map_stats_markdown(s: dict, name: str, rows: list[str], columns: list[str]) -> str:
    """The statistics of one map, for under its heatmap: the numbers, then per word (see the About tab)."""
    if s["diagonality"] is None:
        return ""
    eos = "none in this map" if s["eos"] is None else f"{100 * s['eos']:.0f}%"
    line = (f"<small>**{md(name)}** · entropy **{s['mean_entropy']:.2f}** bits a word "
            f"({s['entropy_norm']:.2f} of the maximum) · diagonality **{s['diagonality']:.2f}** · "
            f"monotonicity **{s['monotonicity']:.2f}** · weight on punctuation {100 * s['punctuation']:.0f}% · "
            f"on &lt;eos&gt; {eos}</small>")
    per_row = ", ".join(f"“{md(w)}” {h:.2f}" for w, h in zip(rows, s["entropy"]))
    per_column = ", ".join(f"“{md(w)}” {c:.2f}" for w, c in zip(columns, s["coverage"]))
    return (f"{line}\n\n<small>entropy per output word (bits): {per_row}<br>"
            f"coverage (total weight each source word received): {per_column}</small>")


def download_file(data: dict, stem: str) -> str:
    """``data`` written to a fresh JSON file for a download button (only the newest files are kept)."""
    folder = Path(tempfile.gettempdir()) / "seq2seq-explorer"
    folder.mkdir(exist_ok=True)
    path = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    old = sorted(folder.glob("*.json"), key=lambda p: p.name[len(stem):] if p.name.startswith(stem) else p.name)
    for p in old[:-KEEP_DOWNLOADS]:
        p.unlink(missing_ok=True)
    return str(path)


def heatmap_of(kind: str, weights: torch.Tensor, rows: list[str], columns: list[str], title: str):
    return heatmap(map_view(kind, weights, rows, columns), title=title)


# ---------------------------------------------------------------------------- the Inspect and Compare tabs


class Inspector:
    """One model in depth (the Inspect tab: step by step, what-if, teacher forcing, beam search,
    alignment over epochs) and two models' maps differenced (the Compare tab)."""

    def __init__(self, models: Models):
        self.models = models

    # -- layout

    def inspect_tab(self):
        m = self.models
        names = list(m)
        gr.Markdown("One model and one sentence in depth: how it decoded word by word, what it writes when the "
                    "start of its output is changed, where it looks when forced along the reference, its beam "
                    "search, and how its alignment emerged during training.")
        with gr.Row(equal_height=True):
            self.text = gr.Textbox(label="German sentence", value=DEMO, lines=1, max_lines=4, scale=4,
                                   elem_id="inspect-text")
            self.name = gr.Dropdown([(m.title(n), n) for n in names], value=names[-1] if names else None,
                                    label="Model", scale=1, elem_id="inspect-model")
            self.button = gr.Button("Inspect", variant="primary", scale=1, elem_id="inspect-button")
        gr.Examples([[s] for s, _ in TEST_EXAMPLES], self.text, label="Test sentences (their reference is forced below)",
                    cache_examples=False, examples_per_page=6)
        self.status = gr.Markdown(elem_id="inspect-status")
        self.state = gr.State(None)
        self.download = gr.DownloadButton("Download this inspection (JSON)", visible=False, size="sm",
                                          elem_id="inspect-download")

        gr.Markdown("### Step by step\nOne frame per word written (press ▶ or drag the slider): the map row "
                    "behind the word, outlined, and the five words the model found most probable at that step.")
        self.steps = gr.Plot(show_label=False, elem_id="inspect-steps")
        self.steps_stats = gr.Markdown(elem_classes=["map-stats"])

        gr.Markdown("### What if …\nEdit the start of the output, or pick another of the five most probable words "
                    "at a step: the model is forced along that start and continues on its own (the dashed line "
                    "ends the forced words).")
        with gr.Row(equal_height=True):
            self.prefix = gr.Textbox(label="Start of the output (the words as the model wrote them)", lines=1,
                                     scale=4, elem_id="whatif-prefix")
            self.go = gr.Button("Continue from here", scale=1, elem_id="whatif-button")
        with gr.Row():
            self.at = gr.Dropdown([], label="… or at step", interactive=True, elem_id="whatif-step")
            self.word = gr.Dropdown([], label="write instead", interactive=True, elem_id="whatif-word")
        self.whatif_text = gr.Markdown(elem_id="whatif-text")
        self.whatif = gr.Plot(show_label=False, elem_id="whatif-plot")
        self.whatif_stats = gr.Markdown(elem_classes=["map-stats"])

        gr.Markdown("### Teacher forcing\nThe model's own (free-running) output beside the reference forced "
                    "through it word by word: where it looks when it is told what to write.")
        with gr.Row(equal_height=True):
            self.reference = gr.Textbox(label="Reference translation (filled in for test sentences; or type one)",
                                        lines=1, scale=4, elem_id="force-reference")
            self.force_button = gr.Button("Force it", scale=1, elem_id="force-button")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=380):
                self.free = gr.Plot(show_label=False, elem_id="free-plot")
                self.free_stats = gr.Markdown(elem_classes=["map-stats"])
            with gr.Column(min_width=380):
                self.forced = gr.Plot(show_label=False, elem_id="forced-plot")
                self.forced_stats = gr.Markdown(elem_classes=["map-stats"])

        gr.Markdown("### Beam search\nThe finished hypotheses, best first, and the search tree: every word the "
                    "beam kept at each step; squares end a hypothesis, red is the path of the winner.")
        with gr.Row():
            self.beam = gr.Slider(1, 10, value=4, step=1, label="Beam size", elem_id="inspect-beam")
            self.penalty = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="Length penalty")
        self.nbest = gr.Dataframe(headers=["#", "translation", "score", "log-probability"], interactive=False,
                                  elem_id="nbest")
        self.tree = gr.Plot(show_label=False, elem_id="beam-tree")

        gr.Markdown("### How alignment emerged\nDuring training the model translated four fixed probe sentences "
                    "after every epoch (`probes.json` beside the checkpoint); slide through the epochs.")
        self.probe = gr.Dropdown([(s, i) for i, s in enumerate(PROBE_SENTENCES)], value=0, label="Probe sentence",
                                 elem_id="probe-sentence")
        self.epochs = gr.Plot(show_label=False, elem_id="epochs-plot")

        run_opts = dict(api_visibility="private", concurrency_id="models")
        inspect_out = [self.state, self.status, self.download, self.steps, self.steps_stats, self.prefix, self.at,
                       self.word, self.whatif_text, self.whatif, self.whatif_stats, self.reference, self.free,
                       self.free_stats, self.forced, self.forced_stats, self.nbest, self.tree, self.epochs]
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
        for control in (self.probe, self.name):
            control.input(self.on_probe, [self.name, self.probe], [self.epochs], api_visibility="private")

    def compare_tab(self):
        m = self.models
        names = list(m)
        attending = [n for n in names if m.translators[n].has_attention] or names
        gr.Markdown("Two models' maps of one sentence, along the same output (each model is forced to write it), "
                    "so the rows and columns line up: their difference on one scale, -1 to 1, and one similarity "
                    "number. A model without attention (LSTM, GRU) takes part with its saliency map.")
        with gr.Row(equal_height=True):
            self.c_text = gr.Textbox(label="German sentence", value=DEMO, lines=1, max_lines=4, scale=3,
                                     elem_id="compare-text")
            self.c_a = gr.Dropdown([(m.title(n), n) for n in names], value=attending[0] if names else None,
                                   label="Model A", scale=1, elem_id="compare-a")
            self.c_b = gr.Dropdown([(m.title(n), n) for n in names], value=attending[-1] if names else None,
                                   label="Model B", scale=1, elem_id="compare-b")
        with gr.Row(equal_height=True):
            self.c_along = gr.Radio([("A's translation", "a"), ("B's translation", "b"),
                                     ("the reference (test sentences)", "reference")], value="a",
                                    label="Along which output", scale=3, elem_id="compare-along")
            self.c_button = gr.Button("Compare", variant="primary", scale=1, elem_id="compare-button")
        self.c_status = gr.Markdown(elem_id="compare-status")
        self.c_download = gr.DownloadButton("Download the comparison (JSON)", visible=False, size="sm",
                                            elem_id="compare-download")
        with gr.Row(equal_height=False):
            self.c_plot_a = gr.Plot(show_label=False, elem_id="compare-plot-a", min_width=380)
            self.c_plot_b = gr.Plot(show_label=False, elem_id="compare-plot-b", min_width=380)
        self.c_diff = gr.Plot(show_label=False, elem_id="compare-difference")
        for trigger in (self.c_button.click, self.c_text.submit):
            trigger(self.on_compare, [self.c_text, self.c_a, self.c_b, self.c_along],
                    [self.c_status, self.c_download, self.c_plot_a, self.c_plot_b, self.c_diff],
                    api_visibility="private", concurrency_id="models")

    # -- callbacks of the Inspect tab

    def on_inspect(self, text, name, beam, penalty, probe) -> dict:
        """Decode the sentence with one model and fill every view."""
        text = (text or "").strip()[:MAX_INPUT_CHARS]
        problem = ("Type a German sentence to inspect." if not has_words(text) else
                   "Choose a model." if name not in self.models.translators else None)
        if problem is not None:
            return {self.status: f"**{problem}**"}
        translator = self.models.translators[name]
        reference = self.models.references.get(normalise(text))
        try:
            with MODEL_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # truncation is said below
                [t] = translator.translate([text])
                steps = inspection.steps(translator, t)
                kind, weights = inspection.map_of(translator, t)
        except Exception as e:  # never a stack trace in the page
            return {self.status: f"**Inspection failed:** {html.escape(str(e))}"}
        state = {"name": name, "text": text, "translation": t, "steps": steps, "map": (kind, weights),
                 "what_if": None, "forced": None, "beam": None}
        s = map_statistics(kind, weights, t.src_tokens)
        free_title = f"{name}: {KIND_NAMES[kind]} · free-running (greedy)"
        out = {
            self.status: (f"**{md(self.models.title(name))}** (greedy): {md(t.text or '(empty)')} · log-probability "
                          f"{t.log_prob:.2f}" + (f" · read only the first {len(t.src_tokens)} tokens" if t.truncated
                                                 else "")),
            self.steps: stepper(steps, name),
            self.steps_stats: map_stats_markdown(s, KIND_NAMES[kind], t.output_labels, t.src_tokens),
            self.prefix: " ".join(t.raw_tokens),
            self.at: gr.Dropdown([(f"{i + 1}: {w}", i) for i, w in enumerate(steps.written)], value=None),
            self.word: gr.Dropdown([], value=None),
            self.whatif_text: "",
            self.whatif: message_figure("Edit the start of the output, or pick a word at a step, to see the model "
                                        "continue from there."),
            self.whatif_stats: "",
            self.reference: reference or "",
            self.free: heatmap_of(kind, weights, t.output_labels, t.src_tokens, free_title),
            self.free_stats: map_stats_markdown(s, KIND_NAMES[kind], t.output_labels, t.src_tokens),
        }
        forced = self.forcing(state, reference) if reference else {
            self.forced: message_figure("Type a reference translation above and press Force it."),
            self.forced_stats: ""}
        out.update(forced)
        out.update(self.beam_search(state, beam, penalty))
        out[self.epochs] = self.on_probe(name, probe)
        out[self.state] = state
        out[self.download] = self.export(state)
        return out

    def export(self, state: dict) -> gr.DownloadButton:
        """The download button, now holding everything this inspection shows as JSON."""
        return gr.DownloadButton(value=download_file(inspection_json(self.models, state), f"inspect-{state['name']}"),
                                 visible=True)

    def on_continue(self, state, prefix: str) -> dict:
        """What-if: force the typed start of the output and let the model continue."""
        if not state:
            return {self.whatif_text: "**Press Inspect first.**"}
        translator = self.models.translators[state["name"]]
        out = self.continuation(state, output_tokens(translator, prefix))
        return {**out, self.state: state, self.download: self.export(state)} if state["what_if"] else out

    def on_step(self, state, at):
        """The five words the model found most probable at the chosen step."""
        if not state or at is None or not 0 <= int(at) < len(state["steps"].top_words):
            return gr.Dropdown([], value=None)
        steps = state["steps"]
        return gr.Dropdown([(f"{w} ({p:.2f})", w) for w, p in zip(steps.top_words[int(at)], steps.top_probs[int(at)])],
                           value=None)

    def on_pick(self, state, at, word) -> dict:
        """What-if: the output up to the chosen step, then the chosen word, then the model's own continuation."""
        if not state or at is None or not word:
            return {}
        prefix = state["steps"].written[: int(at)] + [word]
        out = self.continuation(state, prefix)
        return {**out, self.prefix: " ".join(prefix), self.state: state, self.download: self.export(state)}

    def continuation(self, state: dict, prefix: list[str]) -> dict:
        """The what-if views for one forced start of the output."""
        name, text = state["name"], state["text"]
        translator = self.models.translators[name]
        if not prefix:
            return {self.whatif_text: "**Type the start of an output first** (the model then continues from it)."}
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = inspection.continue_from(translator, text, prefix)
            try:
                kind, weights = inspection.map_of(translator, t)
            except SaliencyTooLong as e:  # the continuation stands; say why there is no map
                return {self.whatif_text: f"→ **{md(t.text)}**", self.whatif: message_figure(str(e)),
                        self.whatif_stats: ""}
        unknown = inspection.unknown_words(translator, [w for w in prefix if w != "<eos>"])
        forced = min(len(prefix), len(t.output_labels))
        s = map_statistics(kind, weights, t.src_tokens)
        state["what_if"] = {"prefix": prefix, "translation": t, "map": (kind, weights), "forced": forced}
        note = f" · not in its vocabulary, so written as &lt;unk&gt;: {md(', '.join(unknown))}" if unknown else ""
        fig = mark_forced(heatmap_of(kind, weights, t.output_labels, t.src_tokens,
                                     f"{name}: {KIND_NAMES[kind]} · the first {forced} word(s) forced"), forced)
        return {self.whatif: fig,
                self.whatif_text: (f"**Forced** {md(' '.join(prefix))} → **{md(t.text or '(empty)')}** · "
                                   f"log-probability {t.log_prob:.2f}{note}"),
                self.whatif_stats: map_stats_markdown(s, KIND_NAMES[kind], t.output_labels, t.src_tokens)}

    def on_force(self, state, reference: str) -> dict:
        if not state:
            return {self.forced_stats: "**Press Inspect first.**"}
        return {**self.forcing(state, reference), self.state: state, self.download: self.export(state)}

    def forcing(self, state: dict, reference: str) -> dict:
        """Teacher forcing: the reference (or any output) written through the model, and its map."""
        name, text = state["name"], state["text"]
        translator = self.models.translators[name]
        tokens = output_tokens(translator, reference)
        if not tokens:
            return {self.forced: message_figure("Type a reference translation above and press Force it."),
                    self.forced_stats: ""}
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = inspection.force(translator, text, tokens)
            try:
                kind, weights = inspection.map_of(translator, t)
            except SaliencyTooLong as e:
                return {self.forced: message_figure(str(e)), self.forced_stats: ""}
        state["forced"] = {"reference": reference, "translation": t, "map": (kind, weights)}
        s = map_statistics(kind, weights, t.src_tokens)
        unknown = inspection.unknown_words(translator, tokens)
        title = f"{name}: {KIND_NAMES[kind]} · teacher-forced (log-probability {t.log_prob:.2f})"
        note = (f"<small>Not in {md(name)}'s vocabulary, so read as &lt;unk&gt;: {md(', '.join(unknown))}</small>\n\n"
                if unknown else "")
        return {self.forced: heatmap_of(kind, weights, t.output_labels, t.src_tokens, title),
                self.forced_stats: note + map_stats_markdown(s, KIND_NAMES[kind], t.output_labels, t.src_tokens)}

    def on_beam(self, state, beam, penalty) -> dict:
        if not state:
            return {}
        return {**self.beam_search(state, beam, penalty), self.state: state, self.download: self.export(state)}

    def beam_search(self, state: dict, beam, penalty) -> dict:
        """The n-best list and the search tree for the chosen beam size and length penalty."""
        name, text = state["name"], state["text"]
        beam, penalty = int(beam), float(penalty)
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, nodes = inspection.beam_tree(self.models.translators[name], text, beam, penalty)
        state["beam"] = {"beam_size": beam, "length_penalty": penalty, "translation": t, "tree": nodes}
        rows = [[i + 1, s, round(score, 3), round(next((n["log_prob"] for n in nodes if n["rank"] == i), 0.0), 3)]
                for i, (s, score) in enumerate(t.nbest)]
        title = f"{name}: beam search, beam size {beam}, length penalty {penalty:g}"
        return {self.tree: beam_tree_figure(nodes, title),
                self.nbest: gr.Dataframe(value=rows, headers=["#", "translation", "score", "log-probability"])}

    def on_probe(self, name, probe):
        """One probe sentence's alignment after each epoch (the checkpoint's probes.json)."""
        translator = self.models.translators.get(name)
        if translator is None:
            return None
        try:
            log = inspection.probes(translator)
        except CheckpointError as e:
            return message_figure(f"probes.json could not be read: {e}")
        if log is None:
            return message_figure(f"{name} has no probes.json (it was trained before probes were recorded).")
        probe = int(probe or 0)
        sentence = log.get("sentences", PROBE_SENTENCES)[probe] if probe < len(log.get("sentences", [])) else ""
        return epochs_figure(log, probe, f"{name}: {sentence}")

    # -- callback of the Compare tab

    def on_compare(self, text, a, b, along) -> dict:
        """Both models forced along one output; their maps, the difference and the similarity."""
        m = self.models
        text = (text or "").strip()[:MAX_INPUT_CHARS]
        problem = ("Type a German sentence to compare on." if not has_words(text) else
                   "Choose two models." if a not in m.translators or b not in m.translators else None)
        if problem is not None:
            return {self.c_status: f"**{problem}**"}
        ta, tb = m.translators[a], m.translators[b]
        try:
            with MODEL_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if along == "reference":
                    reference = m.references.get(normalise(text))
                    if reference is None:
                        return {self.c_status: "**This sentence has no reference** (only test sentences do): compare "
                                               "along A's or B's translation."}
                    tokens = output_tokens(ta, reference)
                else:
                    [t] = (ta if along == "a" else tb).translate([text])
                    tokens = t.raw_tokens
                c = inspection.compare(ta, tb, text, tokens)
        except Exception as e:  # e.g. the models read the sentence differently
            return {self.c_status: f"**Comparison failed:** {html.escape(str(e))}"}
        which = {"a": f"A's ({a}) translation", "b": f"B's ({b}) translation", "reference": "the reference"}[along]
        kinds = [KIND_NAMES[k] for k in c.kinds]
        status = (f"Similarity **{c.similarity:.3f}** (1 − the mean total-variation distance between their rows: "
                  f"1 for the same map, 0 for maps that share no weight), along {md(which)}: "
                  f"*{md(' '.join(tokens) or '(empty)')}*")
        if c.kinds[0] != c.kinds[1]:
            status += f"  \nA's map is its {md(kinds[0])}, B's its {md(kinds[1])}."
        data = {"source": text, "along": along, "src_tokens": c.columns, "output_labels": c.rows,
                "similarity": round(c.similarity, 4), "difference": rounded(c.difference),
                "models": {"a": {"name": a, "map": c.kinds[0], "weights": rounded(c.a), "log_prob": round(c.log_probs[0], 4),
                                 "statistics": map_statistics(c.kinds[0], c.a, c.columns)},
                           "b": {"name": b, "map": c.kinds[1], "weights": rounded(c.b), "log_prob": round(c.log_probs[1], 4),
                                 "statistics": map_statistics(c.kinds[1], c.b, c.columns)}}}
        return {self.c_status: status,
                self.c_download: gr.DownloadButton(value=download_file(data, f"compare-{a}-{b}"), visible=True),
                self.c_plot_a: heatmap_of(c.kinds[0], c.a, c.rows, c.columns, f"A · {a}: {kinds[0]}"),
                self.c_plot_b: heatmap_of(c.kinds[1], c.b, c.rows, c.columns, f"B · {b}: {kinds[1]}"),
                self.c_diff: difference_heatmap(map_view("difference", c.difference, c.rows, c.columns),
                                                f"A − B ({a} − {b}): blue where A puts more weight, red where B does")}


def translation_json(t: Translation, kind: str, weights: torch.Tensor) -> dict:
    return {"text": t.text, "tokens": t.tokens, "raw_tokens": t.raw_tokens, "output_labels": t.output_labels,
            "log_prob": round(t.log_prob, 4),
            "finished": t.finished, "map": kind, "weights": rounded(weights),
            "statistics": map_statistics(kind, weights, t.src_tokens)}


def inspection_json(models: Models, state: dict) -> dict:
    """Everything the Inspect tab shows, as plain JSON: the translation, its steps, what-if, forcing, beam."""
    t, steps = state["translation"], state["steps"]
    out = {"model": state["name"], "arch": models.translators[state["name"]].arch, "source": state["text"],
           "src_tokens": t.src_tokens, "translation": translation_json(t, *state["map"]),
           "steps": [{"word": w, "prob": round(p, 4), "top": [[x, round(q, 4)] for x, q in zip(words, probs)]}
                     for w, p, words, probs in zip(steps.rows, steps.probs, steps.top_words, steps.top_probs)],
           "what_if": None, "forced": None, "beam": None}
    if state["what_if"]:
        w = state["what_if"]
        out["what_if"] = {"prefix": w["prefix"], "forced_words": w["forced"], **translation_json(w["translation"], *w["map"])}
    if state["forced"]:
        f = state["forced"]
        out["forced"] = {"reference": f["reference"], **translation_json(f["translation"], *f["map"])}
    if state["beam"]:
        b = state["beam"]
        out["beam"] = {"beam_size": b["beam_size"], "length_penalty": b["length_penalty"],
                       "nbest": [{"text": s, "score": round(score, 4)} for s, score in b["translation"].nbest],
                       "tree": b["tree"]}
    return out


def continue_json(models: Models, text: str, architecture: str, prefix: str, max_len: int = 0) -> dict:
    """What-if as plain JSON: one model forced to start its output with ``prefix``, continuing greedily."""
    if not isinstance(text, str) or not has_words(text):
        raise gr.Error("Empty input: give a German sentence to translate.")
    if not isinstance(architecture, str) or architecture not in models.translators:
        raise gr.Error(f"Unknown model {architecture!r}; this app serves {list(models)}.")
    if not isinstance(prefix, (str, type(None))):
        raise gr.Error(f"prefix must be a string, not {type(prefix).__name__}.")
    max_len = checked("max_len", max_len, *MAX_LENS)
    translator = models.translators[architecture]
    tokens = output_tokens(translator, prefix)
    with MODEL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = inspection.continue_from(translator, text.strip()[:MAX_INPUT_CHARS], tokens, max_len or None)
        try:
            kind, weights = inspection.map_of(translator, t)
        except SaliencyTooLong as e:
            raise gr.Error(str(e)) from None
    return {"source": text.strip(), "prefix": tokens, "forced_words": min(len(tokens), len(t.output_labels)),
            "unknown_words": inspection.unknown_words(translator, tokens), "src_tokens": t.src_tokens,
            **translation_json(t, kind, weights)}


# ---------------------------------------------------------------------------- leaderboard and about


def leaderboard(root: Path) -> dict:
    """One row per checkpoint from its metrics.json: test BLEU/chrF greedy and beam, size, speed."""
    headers = ["model", "paper", "BLEU greedy", "BLEU beam", "chrF greedy", "chrF beam", "parameters (M)",
               "size (MB)", "sentences/s greedy", "sentences/s beam", "val BLEU", "hardware"]
    rows = []
    for path in find_checkpoints(root) if root.is_dir() else []:
        try:
            config, metrics = read_config(path), read_metrics(path)
        except CheckpointError:  # unreadable: the row says what it can
            config, metrics = {}, {}
        test = metrics.get("test", {})
        greedy = test.get("greedy", {})
        beam = next((v for k, v in test.items() if k.startswith("beam")), {})
        weights = path / "model.safetensors"
        size = metrics.get("size_bytes") or (weights.stat().st_size if weights.is_file() else None)
        params = metrics.get("parameters") or config.get("parameters")
        paper = metrics.get("paper") or getattr(ARCHITECTURES.get(config.get("arch")), "paper", "")
        cell = lambda x, digits=2: None if x is None else round(float(x), digits)  # noqa: E731
        rows.append([path.name, paper, cell(greedy.get("bleu")), cell(beam.get("bleu")), cell(greedy.get("chrf")),
                     cell(beam.get("chrf")), cell(params / 1e6 if params else None),
                     cell(size / 1e6 if size else None), cell(greedy.get("sentences_per_second"), 1),
                     cell(beam.get("sentences_per_second"), 1), cell(metrics.get("val_bleu")),
                     str(metrics.get("hardware", ""))])
    rows.sort(key=lambda r: -(r[3] if r[3] is not None else r[2] if r[2] is not None else -1))
    return {"headers": headers, "data": rows}


ABOUT = r"""
## The architectures

All six share one interface: encode the source once, then write the translation one word at a time,
each step conditioned on the words written so far. They differ in how the decoder gets at the source.

- **LSTM** (Sutskever et al. 2014). A multi-layer LSTM reads the source (reversed); its final state is the
  only thing the decoder knows of the sentence. No attention — so the app shows *gradient × input saliency*:
  $\mathrm{sal}_{t,j} = \lVert \nabla_{e_j} \log p(y_t \mid y_{<t}, x) \odot e_j \rVert_2$, each row normalised to sum to 1.
- **GRU** (Cho et al. 2014). One GRU encodes the source into a context vector $c$, which is fed to every
  decoder step and to the output layer: $s_t = \mathrm{GRU}(s_{t-1}, [y_{t-1}; c])$. No attention either; saliency as above.
- **Bahdanau** (Bahdanau et al. 2015). A bidirectional GRU encoder; before each step the previous decoder
  state scores every source state with an additive score and the weighted sum (the context) feeds the step.
- **Luong** (Luong et al. 2015). An LSTM decoder takes its step first, then its state $s_t$ attends;
  the attentional state $\tilde h_t = \tanh(W_c [c_t; s_t])$ predicts the word and (input feeding) is fed to the next step.
- **ConvS2S** (Gehring et al. 2017). Convolutions with gated linear units, $\mathrm{GLU}(a, b) = a \odot \sigma(b)$,
  instead of recurrence; *every decoder layer* has its own attention, so the app shows one map per layer.
- **Transformer** (Vaswani et al. 2017). Only attention: multi-head scaled dot-product attention
  $\mathrm{Attention}(Q, K, V) = \mathrm{softmax}(QK^\top / \sqrt{d_k})\,V$, in the encoder (self), the decoder
  (masked self) and between them (cross), with several heads in each layer — pick a layer, a head or their mean.

## The attention family

With decoder state $s_t$ (the query) and encoder states $h_i$, weights are
$a_{t,i} = \mathrm{softmax}_i(\mathrm{score}(s_t, h_i))$ over the real source words, and the context is $c_t = \sum_i a_{t,i} h_i$.

| score | $\mathrm{score}(s_t, h_i)$ | from |
|---|---|---|
| content-based (cosine) | $\beta \cos(s_t, h_i)$ | Graves et al. 2014 (Neural Turing Machines) |
| additive ("concat") | $v_a^\top \tanh(W_a [s_t; h_i])$ | Bahdanau et al. 2015 |
| location-based | $a_t = \mathrm{softmax}(W_a s_t)$, ignores $h_i$ | Luong et al. 2015 |
| general | $s_t^\top W_a h_i$ | Luong et al. 2015 |
| dot product | $s_t^\top h_i$ | Luong et al. 2015 |
| scaled dot product | $s_t^\top h_i / \sqrt{n}$ | Vaswani et al. 2017 |

**Global** attention looks at every source word; **local-p** (Luong) predicts an aligned position
$p_t = S \cdot \sigma(v_p^\top \tanh(W_p s_t))$ and weights a window $[p_t - D, p_t + D]$ by a Gaussian
$\exp(-(i - p_t)^2 / (2 (D/2)^2))$. **Hard** attention samples one position (not differentiable; not
implemented here). **Self-attention** takes queries, keys and values from the same sequence.
The Neural Turing Machine's full addressing adds interpolation with the previous weighting, a circular shift
and sharpening — memory addressing rather than translation attention.

## Statistics of a map

Under each map, computed on its rows normalised to sum to 1 (`seq2seq/analysis/stats.py`; models without attention:
of their saliency map):

- **entropy**, per output word, in bits (not normalised): $-\sum_j a_{tj} \log_2 a_{tj}$; 0 when all the weight is on
  one source word, $\log_2 S$ when it is spread evenly. The mean is also given as a share of that maximum (0 to 1).
- **diagonality**: $1 - \frac{1}{T}\sum_{t,j} a_{tj} \lvert x_j - y_t \rvert$ with relative positions at the cell
  centres, $x_j = (j + \frac12)/S$ and $y_t = (t + \frac12)/T$: 1 for word-for-word in order; uniform attention on a
  square map scores about 2/3.
- **monotonicity**: the share of consecutive output words whose most-attended source word stays or moves right.
- **coverage**: the total weight each source word received over all output words (they sum to $T$).
- the share of all weight on **punctuation** and on **`<eos>`** (the sources here carry no `<eos>`, so that is
  "none" for cross-attention and saliency).

The Compare tab's **similarity** of two maps along the same output is $1 - \frac{1}{T}\sum_t \frac12 \sum_j
\lvert a_{tj} - b_{tj} \rvert$: 1 for the same map, 0 for maps that share no weight.

## Reading the maps

Source words run across, the words the model wrote run down, ending with `<eos>` when it chose to stop.
Each row shows where the model looked while writing that word; rows of attention sum to 1. Every map uses
the same colour scale, 0 to 1. Trained on Multi30k (image captions), so sentences about people, animals
and places in pictures translate best.
"""

CSS = """
.model-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px; }
.model-card h3 { margin: 0; }
.map-stats { color: var(--body-text-color-subdued); }
"""

# Every Plotly figure's toolbar downloads PNG (the camera, at twice the size) and SVG (a second button).
# gr.Plot passes a figure's data and layout to Plotly.react but no config, so the config is added here,
# by wrapping Plotly.react as soon as gradio loads Plotly (it sets window.Plotly).
HEAD = """
<script>
(() => {
  const filename = (layout) => {
    const title = ((layout && layout.title && layout.title.text) || "figure").replace(/<[^>]*>|&[a-z]+;/g, " ");
    return title.replace(/[^\\w\\u00C0-\\u024F-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80) || "figure";
  };
  const patch = (Plotly) => {
    if (!Plotly || !Plotly.react || Plotly.react.withDownloads) return;
    const react = Plotly.react;
    const svg = {name: "Download plot as SVG", icon: Plotly.Icons && Plotly.Icons.disk,
                 click: (gd) => Plotly.downloadImage(gd, {format: "svg", filename: filename(gd.layout)})};
    Plotly.react = function (gd, data, layout, config) {
      config = Object.assign({}, config, {
        toImageButtonOptions: {format: "png", scale: 2, filename: filename(layout)},
        modeBarButtonsToAdd: [svg], displaylogo: false});
      return react.call(this, gd, data, layout, config);
    };
    Plotly.react.withDownloads = true;
  };
  let current = window.Plotly;
  patch(current);
  Object.defineProperty(window, "Plotly", {configurable: true, get: () => current,
                                           set: (value) => { patch(value); current = value; }});
})();
</script>
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"),
                        help="directory of checkpoints, or hf://USER/NAME")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to serve on (0.0.0.0: every interface; default $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    args = parser.parse_args(argv)
    models = Models(args.checkpoints)
    print(f"Loaded {len(models.translators)} model(s) on {models.device}: {', '.join(models) or 'none'}", flush=True)
    for name, reason in models.failures:
        print(f"Could not load {name}: {reason}", flush=True)
    demo, _ = build_app(models)
    # One request at a time runs (the models use both CPUs), in one queue for the page and the API.
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, css=CSS, head=HEAD,
                footer_links=["api", "gradio"])


if __name__ == "__main__":
    main()
