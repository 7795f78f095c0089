"""The JSON the app returns, one function per answer: what the ``translate`` and ``continue``
endpoints send and what each tab's download button holds. Matrices are nested lists rounded to 4
decimals; every map travels with its kind (``seq2seq.analysis.maps``: "cross", cross-attention averaged over
layers and heads, or "saliency") and its statistics (``seq2seq.analysis.stats.summary``).

    translate_json(models, text, ...)      {"source", "reference", "messages", "models": {name: result_json}}
    continue_json(models, text, name, ...) what-if: the prefix, forced_words, unknown_words, translation_json
    inspection_json(inspection)            everything the Inspect tab shows
    comparison_json(...)                   the Compare tab: both maps, their difference and similarity

and, for ``app.py``, the Gradio side of them: :func:`register` adds the two endpoints to the page, and
:func:`download_button` makes a button whose JSON file is written only when it is pressed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import gradio as gr
import torch

from ..analysis import inspection as analysis
from ..analysis.maps import MapTooLong, scale_range, scale_rule
from ..analysis.stats import summary
from ..translator import Translation
from .service import (BEAM_SIZES, LENGTH_PENALTIES, MAX_INPUT_CHARS, MAX_LENS, MODEL_LOCK, Inspection, ModelSet,
                      RequestError, Result, checked, checked_names, checked_text, output_tokens, result_map,
                      translate_all, well_formed)

# What the API page says of the two endpoints (app.py gives them these docstrings).
TRANSLATE_ENDPOINT = """Translate German text with the named models (default: all). beam_size 1 is greedy search;
max_len 0 means 1.5 x the source length + 10. Returns, per model, the translation, its tokens,
log-probability, seconds, sentence BLEU (for test sentences) and attention matrices:
cross [T][layers][heads][S], decoder_self [T][layers][heads][T], encoder_self [layers][heads][S][S];
models without attention return a saliency matrix [T][S] instead. "statistics" describes each
model's map (cross-attention averaged over layers and heads, or saliency; "map" says which):
entropy per output word in bits, mean_entropy, entropy_norm (0..1), diagonality, monotonicity,
coverage per source word, and the share of weight on punctuation and on <eos> (None: no such column),
and "scale", the colour range the page draws the map on. "copied": the output positions where the
model wrote <unk> and the most attended source word was copied in its place (tokens has the copy).
A word-level model that knows none of the input's words translates nothing: its text is empty and
"message" says why (null otherwise)."""
CONTINUE_ENDPOINT = """What-if decoding: the model ``architecture`` must start its translation of the German ``text``
with ``prefix`` (English words) and continues greedily from there (max_len 0: 1.5 x the source
length + 10, plus the prefix). Returns the tokens, forced_words (how many were forced),
unknown_words (prefix words outside its vocabulary, written as <unk>; raw_tokens has the <unk>,
tokens the source word copied in its place), text, log-probability,
its map [T][S] ("map": cross-attention averaged over layers and heads, or saliency for models
without attention) and the map's statistics."""
KEEP_DOWNLOADS = 200         # JSON files kept for the download buttons (gradio copies each into its cache)


def rounded(x: torch.Tensor) -> list:
    return torch.round(x.float(), decimals=4).tolist()


def map_statistics(kind: str, weights: torch.Tensor, columns: list[str]) -> dict:
    """``stats.summary`` of one [T, S] map, rounded for JSON, with the name of the map it describes."""
    def r4(v):
        return None if v is None else [round(x, 4) for x in v] if isinstance(v, list) else round(v, 4)

    low, high = scale_range(kind, weights)         # the colour range every view draws this map on (scale_rule)
    return {"map": kind, "scale": {"rule": scale_rule(kind), "min": round(low, 4), "max": round(high, 4)},
            **{k: r4(v) for k, v in summary(weights, columns).items()}}


def result_json(models: ModelSet, r: Result) -> dict:
    """One model's answer to ``translate``."""
    t = r.translation
    try:
        kind, weights = result_map(models, r)
    except MapTooLong:                   # a translation too long for its saliency: the answer has no map
        kind, weights = None, None
    has_attention = models.translators[r.name].has_attention
    return {
        "arch": models.translators[r.name].arch, "text": t.text, "tokens": t.tokens, "src_tokens": t.src_tokens,
        "copied": t.copied, "message": r.notice,
        "output_labels": t.output_labels, "log_prob": round(t.log_prob, 4), "finished": t.finished,
        "seconds": round(r.seconds, 4), "bleu": None if r.bleu is None else round(r.bleu, 2),
        "attention": {k: rounded(v) for k, v in t.attention.items() if k != "value_norms"},
        "saliency": None if has_attention or weights is None or r.notice else rounded(weights),
        "statistics": None if weights is None or r.notice else map_statistics(kind, weights, t.src_tokens),
    }


def results_json(models: ModelSet, text: str, results: dict[str, Result], reference: str | None,
                 messages: list[str]) -> dict:
    """The results of ``translate_all`` (the Translate tab's download, the ``translate`` endpoint)."""
    return {"source": text, "reference": reference, "messages": messages,
            "models": {name: result_json(models, r) for name, r in results.items()}}


def translate_json(models: ModelSet, text, architectures=None, beam_size=1, length_penalty=1.0, max_len=0) -> dict:
    """The ``translate`` endpoint: check the request (RequestError says what is wrong), translate, answer."""
    text = checked_text(text)
    names = checked_names(models, architectures)
    beam_size = checked("beam_size", beam_size, *BEAM_SIZES)
    length_penalty = checked("length_penalty", length_penalty, *LENGTH_PENALTIES, integer=False)
    max_len = checked("max_len", max_len, *MAX_LENS)
    results, reference, messages = translate_all(models, text, names, beam_size, length_penalty, max_len)
    return results_json(models, text, results, reference, messages)


def translation_json(t: Translation, kind: str, weights: torch.Tensor) -> dict:
    """One translation with its map."""
    return {"text": t.text, "tokens": t.tokens, "raw_tokens": t.raw_tokens, "copied": t.copied,
            "output_labels": t.output_labels,
            "log_prob": round(t.log_prob, 4), "finished": t.finished, "map": kind, "weights": rounded(weights),
            "statistics": map_statistics(kind, weights, t.src_tokens)}


def continue_json(models: ModelSet, text, architecture, prefix, max_len=0) -> dict:
    """The ``continue`` endpoint (what-if): one model forced to start its output with ``prefix``."""
    text = checked_text(text)[:MAX_INPUT_CHARS]
    if not isinstance(architecture, str) or architecture not in models.translators:
        raise RequestError(f"Unknown model {architecture!r}; this app serves {list(models)}.")
    if not isinstance(prefix, (str, type(None))):
        raise RequestError(f"prefix must be a string, not {type(prefix).__name__}.")
    max_len = checked("max_len", max_len, *MAX_LENS)
    translator = models.translators[architecture]
    tokens = output_tokens(translator, prefix)
    with MODEL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = analysis.continue_from(translator, text, tokens, max_len or None)
        try:
            kind, weights = analysis.map_of(translator, t)
        except MapTooLong as e:
            raise RequestError(str(e)) from None
    return {"source": text, "prefix": tokens, "forced_words": min(len(tokens), len(t.output_labels)),
            "unknown_words": analysis.unknown_words(translator, tokens), "src_tokens": t.src_tokens,
            **translation_json(t, kind, weights)}


def inspection_json(models: ModelSet, i: Inspection) -> dict:
    """Everything the Inspect tab shows: the translation, its steps, what-if, forcing, beam search."""
    t, steps = i.translation, i.steps
    out = {"model": i.name, "arch": models.translators[i.name].arch, "source": i.text,
           "src_tokens": t.src_tokens, "translation": translation_json(t, *i.map),
           "steps": [{"word": w, "prob": round(p, 4), "top": [[x, round(q, 4)] for x, q in zip(words, probs)]}
                     for w, p, words, probs in zip(steps.rows, steps.probs, steps.top_words, steps.top_probs)],
           "what_if": None, "forced": None, "beam": None}
    if i.what_if:
        w = i.what_if
        out["what_if"] = {"prefix": w["prefix"], "forced_words": w["forced"], **translation_json(w["translation"], *w["map"])}
    if i.forced:
        f = i.forced
        out["forced"] = {"reference": f["reference"], **translation_json(f["translation"], *f["map"])}
    if i.beam:
        b = i.beam
        out["beam"] = {"beam_size": b["beam_size"], "length_penalty": b["length_penalty"],
                       "nbest": [{"text": s, "score": round(score, 4)} for s, score in b["translation"].nbest],
                       "tree": b["tree"]}
    return out


def comparison_json(text: str, along: str, names: tuple[str, str], c: analysis.Comparison) -> dict:
    """The Compare tab: both maps along one output, their difference (A - B) and similarity."""
    side = lambda i, weights: {"name": names[i], "map": c.kinds[i], "weights": rounded(weights),  # noqa: E731
                               "log_prob": round(c.log_probs[i], 4),
                               "statistics": map_statistics(c.kinds[i], weights, c.columns)}
    return {"source": text, "along": along, "src_tokens": c.columns, "output_labels": c.rows,
            "similarity": round(c.similarity, 4), "difference": rounded(c.difference),
            "models": {"a": side(0, c.a), "b": side(1, c.b)}}


# The browser's half of a download written only when asked for (``download_button``): the button's click runs a
# callback that writes the JSON of what the page shows now (``download_file``) into a hidden
# gr.DownloadButton; this, chained after it (``.then(None, [hidden], None, js=SAVE_FILE_JS)``),
# saves that file the way gr.DownloadButton's own click does. Nothing is written on any other event.
SAVE_FILE_JS = """(file) => {
  if (file && file.url) {
    const a = document.createElement('a');
    a.href = file.url;
    a.download = file.orig_name || 'download.json';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  return [];
}"""


def download_file(data: dict, stem: str) -> str:
    """``data`` written to a fresh JSON file for a download button (only the newest files are kept)."""
    folder = Path(tempfile.gettempdir()) / "seq2seq-explorer"
    folder.mkdir(exist_ok=True)
    path = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.json"
    path.write_text(well_formed(json.dumps(data, ensure_ascii=False)), encoding="utf-8")   # no lone surrogates
    older = []                                  # every other download, oldest first; the new one is kept
    for p in folder.glob("*.json"):
        try:
            if p != path:
                older.append((p.stat().st_mtime_ns, p.name, p))
        except FileNotFoundError:               # another request's pruning removed it meanwhile
            pass
    for *_, p in sorted(older)[:max(0, len(older) + 1 - KEEP_DOWNLOADS)]:
        p.unlink(missing_ok=True)
    return str(path)


# ---------------------------------------------------------------------------- the page's endpoints and downloads

# The options of the page's own events: PRIVATE, not an endpoint of the API; USES_MODELS, one that uses the models,
# so it waits its turn in their one queue ("models"), with the translate and continue endpoints.
QUEUE = "models"
PRIVATE = {"api_visibility": "private"}
USES_MODELS = {**PRIVATE, "concurrency_id": QUEUE}


def progress_on(*components) -> dict:
    """An event's option: Gradio's progress shown on these components only, not on each of its outputs: where the
    person looks (a tab's status line under its button, the figure a button just above fills, the menu just used),
    at most three, two of them figures. Gradio's page keeps a loading status for every component any event has shown progress on, and at
    every message of every later event copies each one's value (a figure's whole JSON): after a tour of the tabs
    with progress on all their outputs (the Family tab's maps among them), each Translate took 1.65x the models'
    work instead of 1.33x (bench/browser.py --tour, docs/benchmarks.md). The Translate cards' and the Family
    members' maps are never among them: they are many, and the cards' are refilled at every Translate."""
    return {"show_progress_on": list(components)}


def register(models: ModelSet) -> None:
    """The ``translate`` and ``continue`` endpoints, added to the page being built (call inside its gr.Blocks);
    they share the page's queue of requests to the models."""

    def translate(text: str, architectures: list[str] | None = None, beam_size: int = 1,
                  length_penalty: float = 1.0, max_len: int = 0) -> dict:
        try:
            return translate_json(models, text, architectures, beam_size, length_penalty, max_len)
        except RequestError as e:
            raise refused("translate", e) from None   # the message the API client receives

    translate.__doc__ = TRANSLATE_ENDPOINT
    gr.api(translate, api_name="translate", concurrency_id=QUEUE)

    def continue_(text: str, architecture: str, prefix: str = "", max_len: int = 0) -> dict:
        try:
            return continue_json(models, text, architecture, prefix, max_len)
        except RequestError as e:
            raise refused("continue", e) from None

    continue_.__doc__ = CONTINUE_ENDPOINT
    gr.api(continue_, api_name="continue", concurrency_id=QUEUE)


def refused(endpoint: str, e: Exception) -> gr.Error:
    """A bad request's answer: its message for the client, one line in the server's console (no traceback)."""
    print(f"refused a /{endpoint} request: {e}", file=sys.stderr, flush=True)
    return gr.Error(str(e), print_exception=False)


def download_button(label: str, elem_id: str, write, inputs: list) -> gr.Button:
    """A (hidden until shown) button whose file is written only when pressed: ``write(*inputs)`` returns its path
    (None: nothing yet). A hidden gr.DownloadButton carries the file and ``SAVE_FILE_JS`` saves it, as
    gr.DownloadButton's own click would; nothing is written on any other event."""
    button = gr.Button(label, visible="hidden", size="sm", elem_id=elem_id)    # on the page, to be shown at once
    file = gr.DownloadButton(visible=False, elem_id=f"{elem_id}-file")
    button.click(write, inputs, [file], **USES_MODELS).then(None, [file], None, js=SAVE_FILE_JS, **PRIVATE)
    return button
