"""What the app computes, without the page: a set of models loaded from a directory (with the ones
that failed and why), one sentence translated by several of them, the map each card shows, one
model inspected in depth and two compared. ``app.py`` lays these out; tests call them directly.

Requests are checked here: a bad one raises :class:`RequestError` with a message for the user.
Every use of the models holds :data:`MODEL_LOCK` (saliency hooks into them, and 2 CPUs are busy
enough with one request).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..analysis import inspection, lens, maps
from ..analysis.maps import MapTooLong, View
from ..checkpoint import FILES, find_checkpoints
from ..data import tokenizer
from ..evaluate import sentence_bleu
from ..papers import display_name, paper_rank
from ..translator import Translation, load_checkpoint
from .examples import load_references, normalise_sentence

MEAN = -1                    # the layer or head choice "mean of them"
# What a request may ask for: the ranges of the Translate tab's sliders (API requests are checked against them).
BEAM_SIZES, LENGTH_PENALTIES, MAX_LENS = (1, 10), (0.0, 2.0), (0, 200)
MAX_INPUT_CHARS = 20_000     # longer input is cut: the models read at most 200 tokens of it anyway
MAX_FORCED_WORDS = MAX_LENS[1]  # a forced output (what-if prefix, reference) is cut to this many words
MODEL_LOCK = threading.RLock()  # one request at a time uses the models


class RequestError(ValueError):
    """A request the app cannot serve; the message says why, for the user."""


def resolve(spec: str) -> Path:
    """A checkpoints directory from a local path or ``hf://USER/NAME`` (a Hub snapshot)."""
    if spec.startswith("hf://"):
        from ..tools.hub import resolve_checkpoints

        return Path(resolve_checkpoints(spec))
    return Path(spec).expanduser()


class ModelSet:
    """Every checkpoint directly under one directory, loaded once; and those that failed, with the reason.
    ``extra``: Hugging Face translation models to serve beside them (Hub ids or ``save_pretrained``
    directories; ``download`` lets a Hub id be fetched when it is not in the local cache)."""

    def __init__(self, spec: str | Path, device: str | None = None, references: dict | None = None,
                 extra=(), download: bool = False):
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.translators, self.failures = {}, []
        self.paths: dict[str, Path | None] = {}   # each served model's directory (None: loaded from the Hub cache)
        self.references = load_references() if references is None else references  # test sentence -> reference
        try:
            self.root = resolve(str(spec))
        except Exception as e:  # a Hub download that failed: serve nothing, say why
            self.root, self.failures = Path(str(spec)), [(str(spec), str(e))]
        else:
            self._load_root()
        for model in extra:
            try:
                t = load_checkpoint(model, self.device, download=download)
            except Exception as e:  # HuggingFaceError, and anything else a broken model may raise
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                self.failures.append((str(model), reason.removeprefix(f"{model}: ")))
                continue
            self.translators[t.config["name"]], self.paths[t.config["name"]] = t, t.path
        self.translators = dict(sorted(self.translators.items(), key=lambda nt: paper_rank(nt[0], nt[1].arch)))

    def _load_root(self) -> None:
        found = find_checkpoints(self.root)
        for d in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if d not in found and any((d / f).is_file() for f in FILES):
                self.failures.append((d.name, f"{d / 'config.json'} is missing"))
        for path in found:
            try:
                self.translators[path.name] = load_checkpoint(path, self.device)
                self.paths[path.name] = path
            except Exception as e:  # CheckpointError, and anything else a broken file may raise
                self.failures.append((path.name, str(e)))

    def __iter__(self):
        return iter(self.translators)

    def __len__(self):
        return len(self.translators)

    def title(self, name: str) -> str:
        """What the page calls a model: "LSTM", "transformer-sp (Transformer)" (``seq2seq.papers``)."""
        return display_name(name, self.translators[name].arch)

    def reference(self, text: str) -> str | None:
        """The reference translation when ``text`` is a test sentence."""
        return self.references.get(normalise_sentence(text))

    def kinds(self, name: str) -> list[str]:
        """The maps a model's card offers (``maps.CARD_KINDS`` that it has): its attention kinds, value-weighted
        attention and ALTI+ where it has them, then saliency and the Captum attributions (any model)."""
        return maps.offered(self.translators[name].model)


# ---------------------------------------------------------------------------- requests


def well_formed(text: str) -> str:
    """``text`` with every lone surrogate (possible in a Python str, not in UTF-8) replaced by U+FFFD, so
    that it can be tokenized, written to JSON files and sent back; surrogate pairs become their character."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def has_words(text: str) -> bool:
    """Whether there is anything to translate: not only spaces, control and invisible characters."""
    return any(c.isprintable() and not c.isspace() for c in text)


def checked(name: str, value, low: float, high: float, integer: bool = True) -> int | float:
    """A request's numeric option if it lies in [low, high], else a RequestError saying what it must be."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        x = math.nan
    if not (math.isfinite(x) and low <= x <= high and (x.is_integer() or not integer)):
        kind = "a whole number" if integer else "a number"
        raise RequestError(f"{name} must be {kind} from {low} to {high}, not {value!r}.")
    return int(x) if integer else x


def checked_text(text) -> str:
    if not isinstance(text, (str, type(None))):
        raise RequestError(f"text must be a string, not {type(text).__name__}.")
    text = well_formed(text or "").strip()
    if not has_words(text):
        raise RequestError("Empty input: give a German sentence to translate.")
    return text


def checked_names(models: ModelSet, architectures) -> list[str]:
    """The model names a request asks for (default: all), or a RequestError naming the unknown ones."""
    if not isinstance(architectures, (str, list, tuple, type(None))):
        raise RequestError(f"architectures must be a list of model names, not {type(architectures).__name__}.")
    names = [architectures] if isinstance(architectures, str) else list(architectures or models)
    unknown = [n for n in names if not isinstance(n, str) or n not in models.translators]
    if unknown:
        failed = dict(models.failures)
        why = "".join(f" {n} could not be loaded: {failed[n]}" for n in unknown if isinstance(n, str) and n in failed)
        raise RequestError(f"Unknown model(s) {unknown}; this app serves {list(models)}.{why}")
    return names


def output_tokens(translator, text: str) -> list[str]:
    """A typed output (what-if prefix, reference) as the model's target tokens, cut to MAX_FORCED_WORDS."""
    return inspection.target_tokens(translator, well_formed(text or "")[:MAX_INPUT_CHARS])[:MAX_FORCED_WORDS]


# ---------------------------------------------------------------------------- translating with several models


@dataclass
class Result:
    """One model's translation of the current input, with what its card shows of it."""

    name: str
    translation: Translation
    seconds: float
    forced: maps.Forced | None = None    # the translation as its maps read it (``maps.Forced.of``), each map cached
    bleu: float | None = None
    notice: str | None = None     # why there is no translation (a word model that knows none of the words)


def no_known_word(translator) -> str:
    """What a word-level model says of an input in which it knows no word (``Translator.knows_no_word``)."""
    language = {"de": "German", "en": "English"}.get(translator.config.get("src_lang"), "source")
    return f"None of these words is in this model's {language} vocabulary, so it has nothing to translate."


def translate_all(models: ModelSet, text: str, names: list[str], beam_size: int = 1, length_penalty: float = 1.0,
                  max_len: int = 0) -> tuple[dict[str, Result], str | None, list[str]]:
    """Translate ``text`` with each named model. Returns the results, the reference translation
    (when the input is a test sentence) and messages for the user. A model that fails is left out
    with a message; the others still translate. (``Translating`` does the same one model at a time.)"""
    run = Translating(models, text, names, beam_size, length_penalty, max_len)
    with MODEL_LOCK:          # the whole request at once, as one caller
        for _ in run:
            pass
    return run.results, run.reference, run.messages


class Translating:
    """``translate_all`` one model at a time, so a page can show each model's card as soon as it is done:
    iterating yields each name in turn with its ``Result``, or None when the model failed (its message is in
    ``messages``). ``reference`` is known from the start; ``results`` and ``messages`` grow as models finish.
    Each model holds :data:`MODEL_LOCK` while it works (not between models: a generator's steps may run on
    different threads)."""

    def __init__(self, models: ModelSet, text: str, names: list[str], beam_size: int = 1,
                 length_penalty: float = 1.0, max_len: int = 0):
        self.models, self.names = models, list(names)
        self.beam_size, self.length_penalty, self.max_len = int(beam_size), float(length_penalty), int(max_len)
        self.messages, self.text = [], well_formed(text)
        if len(self.text) > MAX_INPUT_CHARS:
            self.text = self.text[:MAX_INPUT_CHARS]
            self.messages.append(f"Only the first {MAX_INPUT_CHARS:,} characters of this long input are read.")
        self.reference = models.reference(self.text)
        self.results: dict[str, Result] = {}

    def __iter__(self):
        for name in self.names:
            with MODEL_LOCK:
                result = self.one(name)
            if result is not None:
                self.results[name] = result
            yield name, result

    def one(self, name: str) -> Result | None:
        """One model's translation and card map (None, with a message, when it fails)."""
        models, text, messages = self.models, self.text, self.messages
        translator = models.translators[name]
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # truncation is reported below
                src_tokens, truncated = translator.tokenize(text)
            if translator.knows_no_word(src_tokens):   # it would only copy the input's symbols: say so instead
                nothing = Translation(text, src_tokens, [], "", 0.0, False, truncated=truncated)   # not even <eos>
                return Result(name, nothing, time.perf_counter() - start, maps.Forced.of(translator, nothing),
                              notice=no_known_word(translator))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # truncation is reported below
                [t] = translator.translate([text], beam_size=self.beam_size, length_penalty=self.length_penalty,
                                           max_len=self.max_len or None)
            result = Result(name, t, time.perf_counter() - start, maps.Forced.of(translator, t))
            try:
                result_map(models, result)    # the card's map: a model without attention needs its saliency
            except MapTooLong as e:           # the translation stands; its card says why there is no map
                messages.append(f"{name}: {e}")
        except Exception as e:  # one broken model must not take the others down
            messages.append(f"{name} failed: {e}")
            return None
        if self.reference is not None:
            result.bleu = sentence_bleu(translator.words(t), tokenizer(translator.config["trg_lang"])(self.reference))
        if t.truncated:
            messages.append(f"{name} read only the first {len(t.src_tokens)} tokens of this long input.")
        return result


def result_view(models: ModelSet, result: Result, kind: str, units: str = "pieces") -> View:
    """One kind of map of a result (``maps.CARD_KINDS``), computed on first use; MapTooLong when the translation is
    too long for it. ``units``: a subword model's map over its pieces, as it reads them, or merged into spaCy's
    words, as the word models read them."""
    translator, t = models.translators[result.name], result.translation
    with MODEL_LOCK:                       # gradient maps hook into the model
        v = maps.view(kind, result.forced, t)
    if units != "words" or not translator.subword:
        return v
    cased = translator.lowercase is False          # a cased model's words keep their case (Marian)
    src = tokenizer(translator.config["src_lang"], not cased)(t.source)
    out = tokenizer(translator.config["trg_lang"], False)(t.text) if cased else translator.words(t)
    return maps.words_view(v, *{"encoder_self": (src, src), "decoder_self": (out, out)}.get(kind, (out, src)))


def result_attribution(models: ModelSet, result: Result, method: str):
    """The ``attribution.Attribution`` behind a result's map of ``method`` (its completeness, the values it
    explains); MapTooLong when the translation is too long for it."""
    result_view(models, result, method)
    return result.forced.details[method]


def result_map(models: ModelSet, result: Result) -> tuple[str, torch.Tensor]:
    """The map that stands for a result where one does (statistics, Family, the API): its model's default kind
    (``maps.default_kind``), the mean over layers and heads; MapTooLong when the translation is too long for it."""
    kind = maps.default_kind(models.translators[result.name].model)
    return kind, result_view(models, result, kind).select()


# ---------------------------------------------------------------------------- one model in depth


@dataclass
class Inspection:
    """One model's decoding of one sentence (the Inspect tab), and what was asked of it since:
    a what-if continuation, a forced reference, a beam search. Each part keeps its map as (kind, [T, S])."""

    name: str
    text: str
    translation: Translation
    steps: inspection.Steps
    map: tuple[str, torch.Tensor]
    what_if: dict | None = None      # prefix, translation, map, forced (words forced), unknown
    forced: dict | None = None       # reference, translation, map, unknown
    beam: dict | None = None         # beam_size, length_penalty, translation, tree

    @classmethod
    def run(cls, models: ModelSet, name: str, text: str) -> "Inspection":
        text = well_formed(text or "").strip()[:MAX_INPUT_CHARS]
        if not has_words(text):
            raise RequestError("Type a German sentence to inspect.")
        if name not in models.translators:
            raise RequestError("Choose a model.")
        translator = models.translators[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if translator.knows_no_word(translator.tokenize(text)[0]):
                raise RequestError(f"{models.title(name)}: {no_known_word(translator)}")
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # truncation is said by the caller (translation.truncated)
            [t] = translator.translate([text])
            steps = inspection.steps(translator, t)
            kind, weights = inspection.map_of(translator, t)
        return cls(name, text, t, steps, (kind, weights))

    def continue_with(self, models: ModelSet, prefix: list[str]) -> dict:
        """What-if: force ``prefix`` (target tokens) and let the model continue greedily. MapTooLong
        propagates when the continuation is too long for a map (the continuation is then in ``.args``)."""
        translator = models.translators[self.name]
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = inspection.continue_from(translator, self.text, prefix)
            kind, weights = inspection.map_of(translator, t)
        self.what_if = {"prefix": prefix, "translation": t, "map": (kind, weights),
                        "forced": min(len(prefix), len(t.output_labels)),
                        "unknown": inspection.unknown_words(translator, [w for w in prefix if w != "<eos>"])}
        return self.what_if

    def force(self, models: ModelSet, reference: str) -> dict | None:
        """Teacher forcing: ``reference`` (typed text) written through the model; None when it has no words."""
        translator = models.translators[self.name]
        tokens = output_tokens(translator, reference)
        if not tokens:
            return None
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = inspection.force(translator, self.text, tokens)
            kind, weights = inspection.map_of(translator, t)
        self.forced = {"reference": reference, "translation": t, "map": (kind, weights),
                       "unknown": inspection.unknown_words(translator, tokens)}
        return self.forced

    def source_prefix(self, models: ModelSet, method: str = "integrated_gradients"):
        """How much of every word of the greedy output comes from the source and how much from the words already
        written (``attribution.SourcePrefix``), by integrated gradients or, for a model that has it, ALTI+ ("alti";
        None without it); MapTooLong for a translation too long for integrated gradients."""
        translator = models.translators[self.name]
        ids = translator.ids(self.translation)
        with MODEL_LOCK:
            if method == "alti":
                return maps.alti_source_and_prefix(translator.model, *ids)
            return maps.source_and_prefix(translator.model, *ids)

    def contrast(self, models: ModelSet, step, foil: str) -> dict:
        """Why the word at ``step`` of the greedy output rather than ``foil`` (one English word): integrated
        gradients of log p(word) - log p(foil) over the source, with both log-probabilities."""
        translator = models.translators[self.name]
        labels = self.translation.output_labels
        try:
            step = int(step)
        except (TypeError, ValueError):
            raise RequestError("Choose an output word.") from None
        if not 0 <= step < len(labels):
            raise RequestError("Choose an output word.")
        words = output_tokens(translator, foil or "")
        if len(words) > 1 and translator.subword and len((foil or "").split()) == 1:
            raise RequestError(f"{self.name} writes “{foil.strip()}” in {len(words)} pieces ({' '.join(words)}); "
                               "a contrast is with one piece: try a shorter word.")
        if len(words) != 1:
            raise RequestError("Type one English word to contrast with.")
        word = words[0]
        foil_id = translator.trg_vocab.stoi.get(word)
        if foil_id is None or word in ("<unk>", "<pad>", "<sos>"):
            raise RequestError(f"“{word}” is not in {self.name}'s English vocabulary, so it could never write it: "
                               "try another word.")
        with MODEL_LOCK:
            a = maps.contrast(translator.model, *translator.ids(self.translation), step, foil_id)
        difference, log_prob = float(a.value[0]), self.translation.step_log_probs[step]
        return {"step": step, "word": labels[step], "foil": word, "attribution": a.source[0],
                "difference": difference, "log_prob": log_prob, "foil_log_prob": log_prob - difference,
                "baseline_difference": float(a.baseline_value[0])}

    def logit_lens(self, models: ModelSet):
        """What each decoder layer would already write along the greedy output (``lens.logit_lens``); a
        RequestError for a model with no decoder layers to read."""
        translator = models.translators[self.name]
        if not lens.has_logit_lens(translator):
            raise RequestError(f"{models.title(self.name)} has no stack of decoder layers to read (the logit lens "
                               "needs the Transformer's or ConvS2S's).")
        with MODEL_LOCK:
            return lens.logit_lens(translator, self.translation)

    def decoder_lens(self, models: ModelSet, layer) -> tuple[Translation, tuple[str, torch.Tensor]]:
        """The translation, and its map, when the decoder reads encoder layer ``layer`` instead of the last."""
        translator = models.translators[self.name]
        n = lens.encoder_layers(translator)
        if not n:
            raise RequestError(f"{models.title(self.name)} has no encoder layers to read one by one (DecoderLens "
                               "needs the Transformer).")
        layer = checked("encoder layer", layer, 1, n)
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = lens.decoder_lens(translator, self.text, layer)
            return t, inspection.map_of(translator, t)

    def beam_search(self, models: ModelSet, beam_size: int, length_penalty: float) -> dict:
        """The n-best list and the search tree."""
        beam_size = checked("beam size", beam_size, *BEAM_SIZES)
        length_penalty = checked("length penalty", length_penalty, *LENGTH_PENALTIES, integer=False)
        with MODEL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, nodes = inspection.beam_tree(models.translators[self.name], self.text, beam_size, length_penalty)
        self.beam = {"beam_size": beam_size, "length_penalty": length_penalty, "translation": t, "tree": nodes}
        return self.beam

    def nbest_rows(self) -> list[list]:
        """[rank, translation, score, log-probability] for each finished hypothesis, best first."""
        if not self.beam:
            return []
        nodes = self.beam["tree"]
        return [[i + 1, s, round(score, 3), round(next((n["log_prob"] for n in nodes if n["rank"] == i), 0.0), 3)]
                for i, (s, score) in enumerate(self.beam["translation"].nbest)]


# ---------------------------------------------------------------------------- two models compared


def compare(models: ModelSet, text: str, a: str, b: str, along: str) -> tuple[inspection.Comparison, list[str]]:
    """Both models forced along one output ("a": A's translation, "b": B's, "reference": the test
    reference): their maps, the difference and the similarity, and the output's tokens."""
    text = well_formed(text or "").strip()[:MAX_INPUT_CHARS]
    if not has_words(text):
        raise RequestError("Type a German sentence to compare on.")
    if a not in models.translators or b not in models.translators:
        raise RequestError("Choose two models.")
    ta, tb = models.translators[a], models.translators[b]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, t in ((a, ta), (b, tb)):
            if t.knows_no_word(t.tokenize(text)[0]):
                raise RequestError(f"{models.title(name)}: {no_known_word(t)}")
    with MODEL_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if along == "reference":
            reference = models.reference(text)
            if reference is None:
                raise RequestError("This sentence has no reference (only test sentences do): compare along A's or "
                                   "B's translation.")
            tokens = tokenizer(ta.config["trg_lang"])(reference)[:MAX_FORCED_WORDS] if ta.subword else output_tokens(ta, reference)
        else:
            m = ta if along == "a" else tb
            [t] = m.translate([text])
            tokens = m.words(t) if m.subword else t.raw_tokens    # the output in words: the unit both maps share
        return inspection.compare(ta, tb, text, tokens), tokens
