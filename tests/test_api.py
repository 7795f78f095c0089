"""The programmatic endpoint (``api_name="translate"``) through ``gradio_client``, against the
app served in-process on tiny random-weight checkpoints."""

from __future__ import annotations

import pytest

gradio_client = pytest.importorskip("gradio_client")

import app  # noqa: E402
from seq2seq import load_checkpoint  # noqa: E402
from seq2seq.explorer.service import ModelSet  # noqa: E402

SENTENCE = "Ein Mann mit einem orangefarbenen Hut starrt auf etwas."


@pytest.fixture(scope="module")
def client(checkpoint_root):
    demo, _ = app.build_app(ModelSet(checkpoint_root, device="cpu"))
    demo.queue().launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        yield gradio_client.Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def test_translate_endpoint_is_documented(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert "/translate" in api["named_endpoints"]
    names = [p["parameter_name"] for p in api["named_endpoints"]["/translate"]["parameters"]]
    assert names == ["text", "architectures", "beam_size", "length_penalty", "max_len"]


def test_translate_returns_translations_and_attention_as_json(client, checkpoint_root):
    out = client.predict(text=SENTENCE, architectures=["lstm", "bahdanau", "transformer"], beam_size=2,
                         api_name="/translate")
    assert out["source"] == SENTENCE and set(out["models"]) == {"lstm", "bahdanau", "transformer"}
    tf = out["models"]["transformer"]
    assert tf["src_tokens"] == "ein mann mit einem orangefarbenen hut starrt auf etwas .".split()
    T, S = len(tf["output_labels"]), len(tf["src_tokens"])
    cross = tf["attention"]["cross"]                                 # [T][layers][heads][S]
    assert (len(cross), len(cross[0]), len(cross[0][0]), len(cross[0][0][0])) == (T, 2, 4, S)
    assert abs(sum(cross[0][0][0]) - 1) < 1e-2
    [t] = load_checkpoint(checkpoint_root / "transformer").translate([SENTENCE], beam_size=2)
    assert tf["text"] == t.text and tf["log_prob"] == pytest.approx(t.log_prob, abs=1e-3) and tf["seconds"] > 0
    lstm = out["models"]["lstm"]
    assert lstm["attention"] == {} and len(lstm["saliency"]) == len(lstm["output_labels"])


def test_defaults_translate_with_every_model(client):
    out = client.predict(text="Zwei Hunde spielen im Schnee.", api_name="/translate")
    assert len(out["models"]) == 6


def test_bad_requests_get_a_clear_error(client, capfd):
    with pytest.raises(Exception, match="Empty input"):
        client.predict(text="", api_name="/translate")
    with pytest.raises(Exception, match="Unknown model"):
        client.predict(text=SENTENCE, architectures=["rnn"], api_name="/translate")
    with pytest.raises(Exception, match="beam_size must be"):
        client.predict(text=SENTENCE, beam_size=50, api_name="/translate")
    with pytest.raises(Exception, match="Unknown model"):
        client.predict(text=SENTENCE, architecture="rnn", prefix="a", api_name="/continue")
    err = capfd.readouterr().err          # the server's console: one line a request, no traceback
    assert "Traceback" not in err and err.count("refused a /") == 4


def test_translate_returns_the_statistics_of_each_map(client):
    out = client.predict(text=SENTENCE, architectures=["gru", "transformer"], api_name="/translate")
    for name, kind in (("gru", "saliency"), ("transformer", "cross")):
        m = out["models"][name]
        s = m["statistics"]
        T, S = len(m["output_labels"]), len(m["src_tokens"])
        assert s["map"] == kind and len(s["entropy"]) == T and len(s["coverage"]) == S
        assert abs(sum(s["coverage"]) - T) < 1e-2                      # rows are distributions
        assert 0 <= s["diagonality"] <= 1 and 0 <= s["monotonicity"] <= 1 and 0 <= s["entropy_norm"] <= 1
        assert 0 <= s["punctuation"] <= 1 and s["eos"] is None          # the sources carry no <eos>


def test_continue_endpoint_forces_the_start_of_the_output(client):
    api = client.view_api(print_info=False, return_format="dict")
    names = [p["parameter_name"] for p in api["named_endpoints"]["/continue"]["parameters"]]
    assert names == ["text", "architecture", "prefix", "max_len"]
    for arch in ("lstm", "convs2s"):
        out = client.predict(text=SENTENCE, architecture=arch, prefix="Two zebras", max_len=6, api_name="/continue")
        assert out["raw_tokens"][:2] == ["two", "<unk>"] and out["prefix"] == ["two", "zebras"]
        assert out["forced_words"] == 2 and out["unknown_words"] == ["zebras"] and out["tokens"][0] == "two"
        assert out["map"] == ("saliency" if arch == "lstm" else "cross")
        assert len(out["weights"]) == len(out["output_labels"]) and len(out["weights"][0]) == len(out["src_tokens"])
        assert "diagonality" in out["statistics"]
    with pytest.raises(Exception, match="Unknown model"):
        client.predict(text=SENTENCE, architecture="rnn", prefix="a", api_name="/continue")
