"""The web app: type a German sentence, watch every architecture translate it side by side,
and see where each one looks while it writes each word.

    python app.py [--checkpoints DIR | hf://USER/NAME] [--host 127.0.0.1] [--port 7860] [--share]

Every checkpoint under ``--checkpoints`` is loaded once at start-up (on the GPU when there is
one); a checkpoint that fails to load is listed with the reason and the rest are served.
This file is only the layout and the callbacks: translation, saliency, references and
figures all come from the ``seq2seq`` library. ``translate`` is also a programmatic endpoint
(``api_name="translate"``) returning translations and attention matrices as JSON.
"""

from __future__ import annotations

import argparse
import html
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gradio as gr
import torch

from seq2seq import ARCHITECTURES, CheckpointError, Tokenizer
from seq2seq.checkpoint import FILES, find_checkpoints, read_config, read_metrics
from seq2seq.evaluate import sentence_bleu
from seq2seq.examples import DEMO, EVERYDAY, TEST_EXAMPLES, load_references, normalise
from seq2seq.figures import KIND_NAMES, attention_view, heatmap, overview, saliency_view
from seq2seq.saliency import translation_saliency
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
        from seq2seq.hub import resolve_checkpoints

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
                    result.saliency = translation_saliency(translator, t)
            except Exception as e:  # one broken model must not take the others down
                messages.append(f"{name} failed: {e}")
                continue
            if reference is not None:
                result.bleu = sentence_bleu(t.tokens, tokenizer(translator.config["trg_lang"])(reference))
            if t.truncated:
                messages.append(f"{name} read only the first {len(t.src_tokens)} tokens of this long input.")
            results[name] = result
    return results, reference, messages


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
    if not text:
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
    rounded = lambda x: torch.round(x.float(), decimals=4).tolist()  # noqa: E731
    out = {}
    for name, r in results.items():
        t = r.translation
        out[name] = {
            "arch": models.translators[name].arch, "text": t.text, "tokens": t.tokens, "src_tokens": t.src_tokens,
            "output_labels": t.output_labels, "log_prob": round(t.log_prob, 4), "finished": t.finished,
            "seconds": round(r.seconds, 4), "bleu": None if r.bleu is None else round(r.bleu, 2),
            "attention": {k: rounded(v) for k, v in t.attention.items()},
            "saliency": None if r.saliency is None else rounded(r.saliency),
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

    def outputs(self) -> list:
        return [self.column, self.text, self.stats, self.kind, self.layer, self.head, self.plot, self.overview]


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
    return dict(plot=heatmap(v, layer, head, title), layer=layer, head=MEAN if head is None else head, view=v,
                overview=overview(v, f"{result.name}: {what}, every layer × head") if small else None)


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
            models without attention return a saliency matrix [T][S] instead."""
            return translate_json(m, text, architectures, beam_size, length_penalty, max_len)

        gr.api(translate, api_name="translate", concurrency_id="models")

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
        names = list(m)
        for row in range(0, len(names), 2):
            with gr.Row(equal_height=False):
                for name in names[row: row + 2]:
                    self.cards[name] = self.card(name)
        outputs = [self.state, self.status, self.reference]
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
            small = gr.Plot(show_label=False, visible=False, elem_classes=["overview"])
        card = Card(column, text, stats, kind, layer, head, plot, small)
        for control in (kind, layer, head):
            control.input(lambda results, k, l, h, name=name: self.on_view(name, results, k, l, h),
                          [self.state, kind, layer, head], [layer, head, plot, small], api_visibility="private")
        return card

    # -- callbacks

    def on_translate(self, text, names, decoding, beam, penalty, max_len) -> dict:
        """Translate with every chosen model; fill each card (hide the others)."""
        text = (text or "").strip()
        names = [n for n in self.models if n in (names or [])]
        problem = ("Type a German sentence to translate." if not text else
                   "Choose at least one architecture." if not names else None)
        if problem is not None:  # say so, and leave the cards as they were
            return {self.status: f"**{problem}**"}
        try:
            results, reference, messages = run(self.models, text, names, beam if decoding == "beam" else 1,
                                               penalty, max_len)
        except Exception as e:  # never a stack trace in the page
            return {self.status: f"**Translation failed:** {html.escape(str(e))}"}
        out = {self.state: results, self.status: "\n\n".join(html.escape(msg) for msg in messages),
               self.reference: gr.Textbox(value=reference or "", visible=reference is not None)}
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
        layer, head, plot, small = self.on_view(name, {name: result}, choices[0], None, MEAN)
        out.update({card.layer: layer, card.head: head, card.plot: plot, card.overview: small})
        return out

    def on_view(self, name: str, results: dict, kind: str, layer, head):
        """Redraw one card for a choice of map, layer and head."""
        if name not in (results or {}):
            return gr.Dropdown(visible=False), gr.Dropdown(visible=False), None, gr.Plot(value=None, visible=False)
        f = figures(self.models, results[name], kind, None if layer is None else int(layer),
                    MEAN if head is None else int(head))
        v = f["view"]
        layers = gr.Dropdown([(str(i + 1), i) for i in range(v.layers)], value=f["layer"], visible=v.layers > 1)
        heads = gr.Dropdown([("mean", MEAN)] + [(str(i + 1), i) for i in range(v.heads)], value=f["head"],
                            visible=v.heads > 1)
        return layers, heads, f["plot"], gr.Plot(value=f["overview"], visible=f["overview"] is not None)


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
- **Luong** (Luong et al. 2015). A stacked LSTM decoder takes its step first, then its state $s_t$ attends;
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

## Reading the maps

Source words run across, the words the model wrote run down, ending with `<eos>` when it chose to stop.
Each row shows where the model looked while writing that word; rows of attention sum to 1. Every map uses
the same colour scale, 0 to 1. Trained on Multi30k (image captions), so sentences about people, animals
and places in pictures translate best.
"""

CSS = """
.model-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px; }
.model-card h3 { margin: 0; }
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
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, css=CSS, footer_links=["api", "gradio"])


if __name__ == "__main__":
    main()
