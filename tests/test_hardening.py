"""A public Space gets every kind of input, misuse of its API and broken checkpoints: each ends in
a translation or a clear message within a bounded time, never a stack trace or a hung page.
(Many users at once: test_load.py. Killed and diverging training: test_robustness.py.)"""

from __future__ import annotations

import _pickle
import html
import json
import pickle
import shutil
import time

import httpx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import app
from conftest import tiny_model
from test_unk import shown_text
from seq2seq import ARCHITECTURES
from seq2seq.analysis import maps
from seq2seq.explorer import api, service
from seq2seq.explorer.service import MEAN, ModelSet, RequestError, has_words

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."
SECONDS = 30  # one request to all six tiny models, at most (takes 1-6 s; 10,000 emoji once took 60 s in spaCy)
ALL = list(ARCHITECTURES)


@pytest.fixture(scope="module")
def models(checkpoint_root):
    return ModelSet(checkpoint_root, device="cpu")


@pytest.fixture(scope="module")
def ui(models):
    return app.build_app(models)[1]


def serve(models):
    """The app on loopback, queued as ``python app.py`` queues it; returns the Blocks (close it)."""
    demo, _ = app.build_app(models)
    demo.queue(default_concurrency_limit=1, max_size=app.QUEUE_SIZE)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    return demo


@pytest.fixture(scope="module")
def server(models):
    demo = serve(models)
    yield gradio_client.Client(demo.local_url, verbose=False, analytics_enabled=False), demo.local_url
    demo.close()


# ---------------------------------------------------------------------------- input


ODD = {
    "10,000-character paste": ("Ein Hund läuft über die Wiese. " * 323)[:10_000],
    "10,000 characters, no spaces": "Hund" * 2500,
    "5,000 punctuation marks": "!?." * 1667,
    "10,000 emoji": "🙂" * 10_000,
    "longer than any model's positions": " ".join(["hund", "mann", "schnee"] * 100),
    "emoji and other scripts": "🐶 Собака бежит. 狗在雪地里跑。 الكلب يجري. कुत्ता दौड़ता है। 👩‍👩‍👧",
    "control characters": "Ein\x00 Hund\x07 im\x1b[31m Schnee\u202e\u200b\r\n.",
    "English": "A man in an orange hat is staring at something.",
    "HTML and script": "<script>alert(1)</script> <img src=x onerror=alert(1)> <b>Hund</b> &amp;",
}


@pytest.mark.parametrize("text", ODD.values(), ids=ODD.keys())
def test_any_input_gets_a_translation_or_a_clear_message_from_every_model_within_a_bounded_time(ui, models, text):
    """Each model translates, or, a word-level model that knows none of the input's words (emoji, another script,
    punctuation only), says so on its card instead of writing the input's own symbols back (issue 23); never a
    traceback, and a model that knows a word of the same input still translates it."""
    start = time.monotonic()
    out = ui.on_translate(text, ALL, "greedy", 5, 1.0, 0)
    assert time.monotonic() - start < SECONDS
    assert set(out[ui.state]) == set(ALL)
    for name, card in ui.cards.items():
        r = out[ui.state][name]
        t, translator = r.translation, models.translators[name]
        fig = out[card.plot]
        if translator.knows_no_word(t.src_tokens):                       # a clear message, not a translation
            assert r.notice == service.no_known_word(translator) and not t.tokens
            assert "nothing to translate" in out[card.text] and "nothing to translate" in fig.layout.annotations[0].text
            continue
        assert r.notice is None and shown_text(out[card.text]) == (t.text or "(empty)")   # this model's translation
        if fig.layout.xaxis.ticktext is None:                            # no map: the figure says why
            assert "too long to compute" in fig.layout.annotations[0].text.replace("<br>", " ")
        else:
            assert list(fig.layout.xaxis.ticktext)[:3] == [html.escape(w, quote=False) for w in t.src_tokens[:3]]
    start = time.monotonic()
    answer = api.translate_json(models, text)
    assert time.monotonic() - start < SECONDS
    assert set(answer["models"]) == set(ALL) and json.loads(json.dumps(answer)) == answer
    for name, m in answer["models"].items():
        assert (m["message"] is not None) == models.translators[name].knows_no_word(m["src_tokens"])


def test_the_no_known_word_message_is_given_exactly_where_no_word_is_known(models):
    """The ODD inputs above split as expected: some the tiny models cannot read at all, some they partly can."""
    knows_none = {label: all(models.translators[n].knows_no_word(models.translators[n].tokenize(text)[0])
                             for n in ALL) for label, text in ODD.items()}
    assert knows_none["10,000 emoji"] and knows_none["5,000 punctuation marks"]
    assert knows_none["English"]                     # the tiny German vocabulary has none of its words
    assert not knows_none["10,000-character paste"] and not knows_none["control characters"]   # "ein" at least


def test_long_input_is_read_in_part_and_the_user_is_told(ui, models):
    out = ui.on_translate(ODD["longer than any model's positions"], ALL, "greedy", 5, 1.0, 0)   # 300 tokens
    for name in ALL:
        limit = models.translators[name].max_source_tokens     # 200, and the tiny ConvS2S's 64 positions
        assert len(out[ui.state][name].translation.src_tokens) == limit
        assert f"{name} read only the first {limit} tokens" in out[ui.status]
    huge = api.translate_json(models, "Hund " * 100_000, ["gru"])
    assert "Only the first 20,000 characters" in huge["messages"][0]


def test_a_saliency_map_too_long_to_compute_is_refused_with_a_message(ui, models):
    text = ODD["10,000-character paste"]    # 200 words in; the tiny random models write up to 310 words
    out = ui.on_translate(text, ["lstm", "gru"], "greedy", 5, 1.0, 0)
    for name in ("lstm", "gru"):
        t = out[ui.state][name].translation
        assert maps.cost("saliency", len(t.src_tokens), len(t.output_labels)) > maps.MAX_COST
        assert f"{name}: No gradient × input saliency map for a translation this long" in out[ui.status]
        shown = out[ui.cards[name].plot].layout.annotations[0].text.replace("<br>", " ")   # what the card shows
        assert "too long to compute" in shown
        assert shown_text(out[ui.cards[name].text]) == t.text                                 # and its translation
    answer = api.translate_json(models, text, ["gru"])
    assert answer["models"]["gru"]["saliency"] is None and answer["models"]["gru"]["statistics"] is None
    assert any("No gradient × input saliency map" in m for m in answer["messages"])


@pytest.mark.parametrize("arch", ALL)
def test_integrated_gradients_in_chunks_equal_one_pass(arch, monkeypatch):
    """Captum's internal batches (``CHUNK_TOKENS``) cut the copies of the sentence without changing a number."""
    from seq2seq.analysis import attribution

    model = tiny_model(arch, 30, 30)
    src, trg = [4, 5, 6, 7, 5, 9, 11], [4, 8, 9, 12, 13, 3]
    whole = attribution.attribute(model, src, trg).source
    monkeypatch.setattr(attribution, "CHUNK_TOKENS", 1)      # one quadrature point's copies per pass
    torch.testing.assert_close(attribution.attribute(model, src, trg).source, whole, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("text", ["", "   ", "\n\t\u00a0\u3000", "\u200b\u200e\x00\x07"])
def test_blank_input_gets_a_message(ui, models, text):
    assert "Type a German sentence" in ui.on_translate(text, ALL, "greedy", 5, 1.0, 0)[ui.status]
    with pytest.raises(RequestError, match="Empty input"):
        api.translate_json(models, text)


@settings(max_examples=25, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=200))   # any code point, lone surrogates too
def test_any_unicode_through_the_app_gives_translations_or_a_message(ui, models, text):
    out = ui.on_translate(text, ["gru", "transformer"], "beam", 2, 1.0, 0)
    blank = not has_words(text)
    assert (not out[ui.state]) == blank                     # blank: a message and no cards; else every card
    try:
        answer = api.translate_json(models, text, ["gru", "transformer"])
    except RequestError as e:
        assert blank and "Empty input" in str(e)
    else:
        assert not blank and set(answer["models"]) == {"gru", "transformer"}
        json.dumps(answer)


def strings(x):
    """Every string in a decoded JSON value."""
    if isinstance(x, str):
        yield x
    for v in x.values() if isinstance(x, dict) else x if isinstance(x, list) else []:
        yield from strings(v)


def test_tokens_in_figures_are_shown_as_text_never_as_html(ui):
    # with two words the tiny models know, so every model translates it and draws its tokens (rather than the
    # message for an input with no known word)
    out = ui.on_translate(ODD["HTML and script"] + " ein mann", ALL, "greedy", 5, 1.0, 0)
    results, shown = out[ui.state], []
    assert not any(r.notice for r in results.values())
    for name, card in ui.cards.items():
        shown.append(out[card.plot].to_json())
        for kind in ui.models.kinds(name):
            shown.append(ui.on_view(name, results, kind, None, MEAN)[2].to_json())
            small = ui.on_overview(name, results, kind)
            shown.append(small and small.to_json())
    ticks = out[ui.cards["transformer"].plot].layout.xaxis.ticktext
    assert "&lt;" in ticks and "alert(1)&lt;/script" in ticks          # the tokens, escaped: Plotly shows them as text
    for figure in filter(None, shown):                                  # what the browser's Plotly gets
        text = "\n".join(strings(json.loads(figure)))
        if json.loads(figure)["data"]:                                  # (not a message: "too long for ...")
            assert "<br>" in text                                       # Plotly's own markup is there,
        assert not any(tag in text for tag in ("<script", "</script", "<img", "<b>", "</b"))   # the tokens' is not


# ---------------------------------------------------------------------------- API misuse


MISUSE = {
    "unknown architecture": (dict(architectures=["rnn"]), r"Unknown model\(s\) \['rnn'\]; this app serves \["),
    "beam size 0": (dict(beam_size=0), "beam_size must be a whole number from 1 to 10, not 0"),
    "beam size 1000": (dict(beam_size=1000), "beam_size must be a whole number from 1 to 10, not 1000"),
    "beam size not a number": (dict(beam_size="five"), "beam_size must be a whole number from 1 to 10"),
    "negative max length": (dict(max_len=-5), "max_len must be a whole number from 0 to 200, not -5"),
    "huge max length": (dict(max_len=10**9), "max_len must be a whole number from 0 to 200"),
    "negative length penalty": (dict(length_penalty=-1.0), "length_penalty must be a number from 0.0 to 2.0"),
    "text not a string": (dict(text=12), "text must be a string, not int"),
    "architectures not a list": (dict(architectures=5), "architectures must be a list of model names"),
}


@pytest.mark.parametrize("request_, message", MISUSE.values(), ids=MISUSE.keys())
def test_api_misuse_gets_a_clear_error_and_the_server_keeps_serving(server, request_, message):
    client, _ = server
    with pytest.raises(AppError, match=message):
        client.predict(**{"text": SENTENCE, **request_}, api_name="/translate")
    assert set(client.predict(text=SENTENCE, architectures=["gru"], api_name="/translate")["models"]) == {"gru"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_sent_over_http_get_a_clear_error(server, number):
    _, url = server   # (gradio_client refuses to send them; a hand-made request can)
    body = f'{{"data": ["{SENTENCE}", ["gru"], 2, {number}, 0]}}'
    event = httpx.post(f"{url}gradio_api/call/translate", content=body, headers={"content-type": "application/json"})
    answer = httpx.get(f"{url}gradio_api/call/translate/{event.json()['event_id']}", timeout=60).text
    assert answer.startswith("event: error") and "length_penalty must be a number from 0.0 to 2.0" in answer


# ---------------------------------------------------------------------------- broken checkpoints


class Payload:
    """Unpickling this creates ``path``: proof that a file was loaded through pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


BROKEN = {  # checkpoint name: what the reason for not loading it says
    "truncated": "corrupt or truncated",
    "corrupted": "corrupt or truncated",
    "pickled": "corrupt or truncated",
    "resized": "has shape",
    "other-arch": "does not match the config",
    "no-vocab": "trg_vocab.json is missing",
    "nan-weights": "NaN or infinite",
}


@pytest.fixture(scope="module")
def broken_root(checkpoint_root, tmp_path_factory):
    """Two good checkpoints (gru, transformer) next to one broken in each way of ``BROKEN``."""
    root = tmp_path_factory.mktemp("broken")

    def copy(arch, name):
        shutil.copytree(checkpoint_root / arch, root / name)
        return root / name

    for arch in ("gru", "transformer"):
        copy(arch, arch)
    weights = copy("lstm", "truncated") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    weights = copy("bahdanau", "corrupted") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:8] + b"\xff" * 64 + weights.read_bytes()[72:])
    (copy("lstm", "pickled") / "model.safetensors").write_bytes(pickle.dumps(Payload(root / "UNPICKLED")))
    torch.save(Payload(root / "UNPICKLED"), root / "gru" / "pytorch_model.bin")     # a stray pickle: ignored
    config = copy("luong", "resized") / "config.json"
    config.write_text(config.read_text().replace('"hidden_dim": 24', '"hidden_dim": 32'))
    config = copy("gru", "other-arch") / "config.json"
    config.write_text(config.read_text().replace('"arch": "gru"', '"arch": "lstm"'))
    (copy("convs2s", "no-vocab") / "trg_vocab.json").unlink()
    weights = copy("transformer", "nan-weights") / "model.safetensors"
    tensors = load_file(weights)
    next(v for v in tensors.values() if v.is_floating_point())[0] = float("nan")
    save_file(tensors, weights)
    return root


def test_broken_checkpoints_are_listed_with_the_reason_and_the_others_serve(broken_root):
    models = ModelSet(broken_root, device="cpu")
    assert list(models) == ["gru", "transformer"]
    reasons = dict(models.failures)
    assert reasons.keys() == BROKEN.keys()
    for name, reason in BROKEN.items():
        assert reason in reasons[name], name
    assert not (broken_root / "UNPICKLED").exists()                   # nothing was unpickled
    demo, ui = app.build_app(models)
    [shown] = [b.value for b in demo.blocks.values() if getattr(b, "elem_id", None) == "load-errors"]
    assert f"Could not load {len(BROKEN)} checkpoint(s)" in shown and all(f"`{n}`" in shown for n in BROKEN)
    assert set(ui.on_translate(SENTENCE, list(models), "greedy", 5, 1.0, 0)[ui.state]) == {"gru", "transformer"}


def test_broken_checkpoints_over_http(broken_root):
    demo = serve(ModelSet(broken_root, device="cpu"))
    try:
        client = gradio_client.Client(demo.local_url, verbose=False, analytics_enabled=False)
        assert set(client.predict(text=SENTENCE, api_name="/translate")["models"]) == {"gru", "transformer"}
        with pytest.raises(AppError, match="no-vocab could not be loaded: .*trg_vocab.json is missing"):
            client.predict(text=SENTENCE, architectures=["no-vocab"], api_name="/translate")
        page = httpx.get(f"{demo.local_url}config").text                  # what the page shows
        assert f"Could not load {len(BROKEN)} checkpoint(s)" in page and all(f"`{n}`" in page for n in BROKEN)
    finally:
        demo.close()


def test_checkpoints_load_and_translate_without_pickle(checkpoint_root, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something was loaded through pickle")

    for module in (pickle, _pickle):
        for name in ("load", "loads", "Unpickler"):
            monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.serialization, "load", refuse)
    models = ModelSet(checkpoint_root, device="cpu")
    assert not models.failures and sorted(models) == sorted(ALL)
    assert set(api.translate_json(models, SENTENCE)["models"]) == set(ALL)
