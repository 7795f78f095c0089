"""A Hugging Face translation model behind the project's contract: a tiny random MarianMT with a real
MarianTokenizer (``conftest.build_tiny_marian``), saved with save_pretrained and loaded like a checkpoint.

The adapter's cached decoding equals the model's own forward pass; greedy and beam search equal
``model.generate`` with the same settings; the maps have the contract's shapes and are distributions;
integrated gradients are complete; the pieces merge onto words; the app and every analysis serve it beside
the classic checkpoints; a model that cannot be loaded is reported in one line, and loading none costs
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from seq2seq.data import EOS_IDX, SOS_IDX, load_split, tokenizer  # noqa: E402
from seq2seq.decoding import forced_decode  # noqa: E402
from seq2seq.models.huggingface import HuggingFaceError, load_huggingface  # noqa: E402
from seq2seq.translator import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def marian(marian_dir):
    return load_checkpoint(marian_dir)


@pytest.fixture(scope="module")
def hf_tokenizer(marian_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(marian_dir)


@pytest.fixture(scope="module")
def sentences(data_dir) -> list[str]:
    return load_split("val", "de", "en", data_dir).src_text[:12]


def hf_ids(translator, ids: list[int]) -> list[int]:
    return [int(translator.model.trg_to_hf[i]) for i in ids]


def test_it_loads_as_a_translator_with_the_models_own_pieces(marian, hf_tokenizer):
    assert marian.arch == "marian" and marian.subword and marian.has_attention
    text = "Ein Mann mit einem orangefarbenen Hut."
    pieces = marian.tokenizer(text)
    assert pieces == hf_tokenizer.convert_ids_to_tokens(hf_tokenizer(text).input_ids)   # as Marian reads it
    assert pieces[-1] == "</s>" and "▁Mann" in pieces
    # the project's ids map back onto the model's
    ids = marian.src_vocab.encode(pieces)
    assert [int(marian.model.src_embedding.to_hf[i]) for i in ids] == hf_tokenizer(text).input_ids
    assert ids[-1] == EOS_IDX
    # the specials sit where the project wants them, each mapped to the model's own
    cfg = marian.model.hf.config
    assert marian.model.trg_to_hf[:4].tolist() == [hf_tokenizer.unk_token_id, cfg.pad_token_id,
                                                   cfg.decoder_start_token_id, cfg.eos_token_id]


def test_cached_decoding_equals_the_models_forward_pass(marian, sentences):
    model = marian.model
    src = [marian.src_vocab.encode(marian.tokenizer(s)) for s in sentences[:3]]
    out = [marian.trg_vocab.encode(marian.trg_tokenizer(t)) for t in ["A man in an orange hat.", "Two dogs.",
                                                                       "A woman is riding a bike down the street."]]
    def never_pad_or_sos(logits):                  # as decoding reads logits: <pad> and <sos> are never outputs
        logits = logits.clone()
        logits[:, [1, SOS_IDX]] = float("-inf")
        return torch.log_softmax(logits, -1)

    for s, o in zip(src, out):
        hf_src = model.src_embedding.to_hf[torch.tensor([s])]
        dec_in = torch.tensor([[model.hf.config.decoder_start_token_id] + hf_ids(marian, o)])
        with torch.no_grad():
            reference = model.hf(input_ids=hf_src, decoder_input_ids=dec_in).logits[0][:, model.trg_to_hf]
        reference = never_pad_or_sos(reference)                                        # [T+1, V] project order
        [hyp] = forced_decode(model, [s], [o + [EOS_IDX]])                              # one token at a time
        want = reference[torch.arange(len(o) + 1), torch.tensor(o + [EOS_IDX])]
        assert torch.allclose(torch.tensor(hyp.step_log_probs), want, atol=1e-4)
        # teacher forcing in one pass gives the same distributions as the steps
        with torch.no_grad():
            full = model(torch.tensor([s]), torch.tensor([len(s)]), torch.tensor([[SOS_IDX] + o]))[0]
        assert torch.allclose(never_pad_or_sos(full), reference, atol=1e-4)


@pytest.mark.parametrize("beam", [1, 4])
def test_greedy_and_beam_search_equal_generate(marian, hf_tokenizer, sentences, beam):
    ours = marian.translate(sentences, beam_size=beam, max_len=20)
    finished = 0
    for sentence, t in zip(sentences, ours):
        batch = hf_tokenizer([sentence], return_tensors="pt")
        with torch.no_grad():
            g = marian.model.hf.generate(**batch, num_beams=beam, do_sample=False, max_new_tokens=20,
                                         early_stopping=True, length_penalty=1.0)[0].tolist()
        ids = marian.trg_vocab.encode(t.raw_tokens) + ([EOS_IDX] if t.finished else [])
        assert [g[0]] + hf_ids(marian, ids) == g, sentence                    # the same tokens, <eos> included
        assert t.text == hf_tokenizer.decode(g, skip_special_tokens=True).strip()
        finished += t.finished
    assert 0 < finished < len(sentences)       # some end with </s>, some at the length limit: both compared


def test_every_attention_map_has_the_contracts_shape_and_is_a_distribution(marian, sentences):
    [t] = marian.translate(sentences[:1], max_len=12)
    T, S = len(t.output_labels), len(t.src_tokens)
    layers, heads = marian.model.cross_attention_grid
    assert (layers, heads) == (2, 4)
    a = t.attention
    assert a["cross"].shape == (T, layers, heads, S)
    assert a["decoder_self"].shape == (T, layers, heads, T)
    assert a["encoder_self"].shape == (layers, heads, S, S)
    for kind in ("cross", "decoder_self", "encoder_self"):
        assert torch.allclose(a[kind].sum(-1), torch.ones(a[kind].shape[:-1]), atol=1e-5), kind
    future = torch.ones(T, T, dtype=torch.bool).triu(1)                      # [step, position]: later positions
    assert torch.all(a["decoder_self"].permute(1, 2, 0, 3)[..., future] == 0)   # a step sees only the words so far


def test_integrated_gradients_are_complete(marian, monkeypatch):
    """Rows sum to f(x) - f(baseline) within 5%. This random model's weights (init 0.5) are far rougher than a
    trained one's, so the quadrature needs 256 points here (at 16, gaps of 50-370%, which shrink to ~10% at 64):
    a gap that vanishes as the points grow shows the source embeddings are the ones the model reads."""
    from seq2seq.analysis.attribution import attribute

    checked = 0
    for sentence in ["Ein Mann schläft in einem grünen Raum auf einem Sofa.", "Zwei Hunde spielen im Schnee."]:
        [t] = marian.translate([sentence], max_len=8)
        src_ids, trg_ids = marian.ids(t)
        a = attribute(marian.model, src_ids, trg_ids, "integrated_gradients", n_steps=256)
        assert a.source.shape == (len(trg_ids), len(src_ids))
        big = (a.value - a.baseline_value).abs() > 0.05                    # rows with something to explain
        assert torch.all(a.completeness_gap[big] < 0.05), a.completeness_gap
        checked += int(big.sum())
    assert checked >= 4


def test_the_pieces_merge_onto_words_and_bleu_reads_words(marian, sentences):
    from seq2seq.data import merge_pieces
    from seq2seq.evaluate import evaluate

    pieces = marian.tokenizer("Ein Mann mit einem orangefarbenen Hut.")
    groups = merge_pieces(pieces, tokenizer("de")("Ein Mann mit einem orangefarbenen Hut."))
    assert [label for label, _ in groups] == ["ein", "mann", "mit", "einem", "orangefarbenen", "hut", ".", "</s>"]
    assert [i for _, idx in groups for i in idx] == list(range(len(pieces)))   # a partition, in order
    [t] = marian.translate(sentences[:1], max_len=10)
    assert marian.words(t) == tokenizer("en", True)(t.text)                   # the project's BLEU tokens


def test_evaluate_scores_it_with_the_projects_bleu_and_the_leaderboard_shows_it(marian_dir, data_dir, tmp_path,
                                                                                capsys):
    import shutil

    from seq2seq import evaluate
    from seq2seq.results import LEADERBOARD_COLUMNS, frame, result_rows

    model = shutil.copytree(marian_dir, tmp_path / "opus-mt-tiny")
    assert evaluate.main([str(model), "--split", "val", "--data-dir", str(data_dir), "--limit", "8",
                          "--beam", "1", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["arch"] == "marian" and scores["sentences"] == 8 and "tok:none" in scores["bleu_signature"]
    translator = load_checkpoint(model)
    split = load_split("val", "de", "en", data_dir).limit(8)
    words = [translator.words(t) for t in translator.translate(split.src_text)]
    assert scores["bleu"] == evaluate.corpus_scores(words, split.trg_tokens)["bleu"]   # lowercased spaCy words

    assert evaluate.main([str(model), "--data-dir", str(data_dir), "--beam", "2", "--save"]) == 0   # the test split
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["arch"] == "marian" and metrics["test"]["beam2"]["sentences"] == 100
    assert metrics["parameters"] == sum(p.numel() for p in translator.model.hf.parameters())
    [row] = result_rows([model])
    table = frame([row], LEADERBOARD_COLUMNS)
    [cells] = table["data"]
    assert metrics["test"]["beam2"]["bleu"] in cells                        # its row carries the saved BLEU
    assert evaluate.main([str(model), "--limit", "3", "--save", "--data-dir", str(data_dir)]) == 2   # not a part


def test_the_faithfulness_command_scores_it(marian_dir, data_dir, tmp_path):
    from seq2seq.analysis import faithfulness

    out = tmp_path / "faithfulness.json"
    assert faithfulness.main([str(marian_dir), "--split", "val", "--data-dir", str(data_dir), "--limit", "2",
                              "--only", "deletion", "--json", str(out)]) in (0, None)
    result = json.loads(out.read_text())
    assert result["arch"] == "marian" and result["sentences"] == 2


def test_a_hub_id_that_is_not_here_says_why_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))            # an empty cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")                # and, should a download be asked for, no network
    with pytest.raises(HuggingFaceError) as e:
        load_checkpoint("Helsinki-NLP/opus-mt-de-en")
    message = str(e.value)
    assert "\n" not in message and "Helsinki-NLP/opus-mt-de-en" in message and "--download" in message
    with pytest.raises(HuggingFaceError) as e:
        load_huggingface("Helsinki-NLP/opus-mt-de-en", download=True)      # asked to download, but offline
    assert "\n" not in str(e.value) and "cannot load" in str(e.value)
    with pytest.raises(HuggingFaceError, match="no such directory"):
        load_huggingface(str(tmp_path / "missing" / "dir" / "x"))


def test_a_broken_model_directory_is_refused_not_served(marian_dir, tmp_path, checkpoint_root):
    import shutil

    from seq2seq.explorer.service import ModelSet

    broken = tmp_path / "broken-marian"
    shutil.copytree(marian_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    models = ModelSet(checkpoint_root, device="cpu", extra=[str(broken), "nobody/not-cached-here"])
    failed = dict(models.failures)
    assert "\n" not in failed[str(broken)] and "cannot load" in failed[str(broken)], failed
    assert "--download" in failed["nobody/not-cached-here"]
    assert set(models) >= {"gru", "transformer"}                             # the rest are served


@pytest.fixture(scope="module")
def served(marian_dir, checkpoint_root):
    from seq2seq.explorer.service import ModelSet

    return ModelSet(checkpoint_root, device="cpu", extra=[str(marian_dir)])


def test_every_view_of_the_app_works_on_it(served):
    """Translate (every map kind, a layer and a head, pieces and words), Inspect (steps, what-if, teacher
    forcing, beam tree, source or prefix, contrast), Compare against a classic word model: the same calls the
    page makes, on the Hugging Face model beside the tiny classic checkpoints."""
    from seq2seq.explorer import api
    from seq2seq.explorer.cards import card_figures
    from seq2seq.explorer.service import Inspection, compare, translate_all

    name, text = "opus-mt-tiny", "Zwei Hunde spielen im Schnee."
    assert name in served and not served.failures
    kinds = served.kinds(name)
    assert kinds == ["cross", "value_weighted", "encoder_self", "decoder_self", "saliency", "integrated_gradients",
                     "input_x_gradient"]
    results, _, messages = translate_all(served, text, ["gru", name], max_len=8)
    r = results[name]
    S = len(r.translation.src_tokens)
    assert r.translation.src_tokens[-1] == "</s>"
    for kind in kinds:
        for layer, head in ((None, None), (1, 3)):
            f = card_figures(served, r, kind, layer, head)
            rows, cols = f.shown.shape
            assert cols == (len(r.translation.output_labels) if kind == "decoder_self" else S), kind
            assert torch.isfinite(f.shown).all(), kind
    words = card_figures(served, r, "cross", None, None, units="words")
    assert words.view.columns == [*tokenizer("de", False)(text), "</s>"]     # the pieces merged onto spaCy's words
    assert torch.allclose(words.shown.sum(-1), torch.ones(words.shown.size(0)), atol=1e-5)   # still distributions
    answer = api.translate_json(served, text, ["gru", name], max_len=8)
    assert answer["models"][name]["arch"] == "marian" and answer["models"][name]["src_tokens"][-1] == "</s>"

    i = Inspection.run(served, name, text)
    assert len(i.steps.rows) == len(i.translation.output_labels) and all(0 <= p <= 1 for p in i.steps.probs)
    first = i.translation.raw_tokens[:1] or ["▁A"]
    w = i.continue_with(served, first)
    assert w["translation"].raw_tokens[:1] == first and w["forced"] == 1
    forced = i.force(served, "Two dogs play in the snow.")
    assert forced["translation"].raw_tokens == served.translators[name].trg_tokenizer("Two dogs play in the snow.")
    beam = i.beam_search(served, 3, 1.0)
    assert beam["tree"] and any(n["winner"] for n in beam["tree"])
    if i.translation.raw_tokens:
        sp = i.source_prefix(served)
        assert torch.allclose(sp.source_share + sp.prefix_share, torch.ones_like(sp.source_share))
        c = i.contrast(served, 0, "dogs" if "▁dogs" in served.translators[name].trg_vocab.stoi else "a")
        assert c["attribution"].shape == (S,)
    json.dumps(api.inspection_json(served, i))                                # the download and the API

    for other in ("transformer", "gru"):
        comparison, tokens = compare(served, text, name, other, "a")
        assert comparison.a.shape == comparison.b.shape == (len(tokens) + 1, len(tokenizer("de")(text)))


def test_loading_no_hugging_face_model_never_imports_transformers(checkpoint_root):
    code = ("import sys; from seq2seq.explorer.service import ModelSet; import app; "
            f"m = ModelSet({str(checkpoint_root)!r}, device='cpu'); "
            "[t] = m.translators['transformer'].translate(['ein mann']); "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_push_models_sends_a_saved_hugging_face_model_whole(marian_dir, checkpoint_root, tmp_path):
    """Up to the network boundary: the files push-models would send for a folder holding a save_pretrained model
    beside a classic checkpoint, and the app loading that folder as the Space would after downloading it."""
    import shutil

    from seq2seq.explorer.service import ModelSet
    from seq2seq.tools.hub import model_repo_files

    root = tmp_path / "checkpoints"
    shutil.copytree(checkpoint_root / "gru", root / "gru")
    shutil.copytree(marian_dir, root / "opus-mt-tiny")
    files = model_repo_files(root)
    sent = {k for k in files if k.startswith("opus-mt-tiny/")}
    assert sent == {f"opus-mt-tiny/{f.name}" for f in marian_dir.iterdir() if f.is_file()}
    assert {"opus-mt-tiny/model.safetensors", "opus-mt-tiny/vocab.json", "opus-mt-tiny/source.spm"} <= sent
    models = ModelSet(root, device="cpu")
    assert set(models) == {"gru", "opus-mt-tiny"} and not models.failures


def test_value_weighted_attention_is_the_weights_times_the_norm_of_what_they_move(marian):
    """By hand for one head: alpha_tj ||W_O^h (W_V^h x_j + b_V^h)|| renormalised over j."""
    [t] = marian.translate(["Zwei Hunde spielen im Schnee."], max_len=5)
    model = marian.model
    src = torch.tensor([marian.src_vocab.encode(t.src_tokens)])
    with torch.no_grad():
        memory = model.encode(src, torch.tensor([src.size(1)]))["memory"][0]          # [S, D]
    layer, head = 1, 2
    attn = model.hf.get_decoder().layers[layer].encoder_attn
    d = attn.head_dim
    v = (memory @ attn.v_proj.weight.T + attn.v_proj.bias)[:, head * d:(head + 1) * d]   # [S, d]
    f = v @ attn.out_proj.weight[:, head * d:(head + 1) * d].T                        # [S, D]
    alpha = t.attention["cross"][:, layer, head]                                       # [T, S]
    want = alpha * f.norm(dim=-1)
    want = want / want.sum(-1, keepdim=True)
    from seq2seq.analysis import maps

    weighted = maps.compute("value_weighted", maps.Forced.of(marian, t))                     # [layers, heads, T, S]
    assert torch.allclose(weighted[layer, head], want, atol=1e-5)
