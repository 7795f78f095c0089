"""Shared fixtures: small vocabularies and random-weight checkpoints of every architecture,
written through the real ``save_checkpoint`` so tests never depend on the shipped models."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
import torch

from seq2seq import ARCHITECTURES, Vocab, build_model, save_checkpoint
from seq2seq.data import DEFAULT_DATA_DIR

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
# The tests find Multi30k the way the app and train.py do: $SEQ2SEQ_DATA_DIR, else data/multi30k in the
# project. Most data tests run on the slice shipped in tests/data/multi30k (the first SLICE lines of each
# file), so a clone with no data runs them; the few that need the full set skip, saying why, without it.
FULL_DATA_DIR = Path(os.environ.get("SEQ2SEQ_DATA_DIR") or DEFAULT_DATA_DIR)
SLICE_DIR = ROOT / "tests" / "data" / "multi30k"
FULL_SIZES = {"train": 29_000, "val": 1_014, "test_2016_flickr": 1_000}
SLICE = {"train": 400, "val": 100, "test_2016_flickr": 100}

# Small sizes so each model builds and runs in milliseconds.
TINY = {
    "lstm": dict(emb_dim=16, hidden_dim=24, layers=2, dropout=0.0),
    "gru": dict(emb_dim=16, hidden_dim=24, dropout=0.0),
    "bahdanau": dict(emb_dim=16, encoder_dim=12, decoder_dim=24, attention_dim=16, dropout=0.0),
    "luong": dict(emb_dim=16, hidden_dim=24, layers=2, dropout=0.0),
    "convs2s": dict(emb_dim=16, hidden_dim=24, encoder_layers=2, decoder_layers=2, dropout=0.0, max_positions=64),
    "transformer": dict(d_model=16, heads=4, ff_dim=32, encoder_layers=2, decoder_layers=2, dropout=0.0,
                        attention_dropout=0.0),
}

GERMAN = "ein mann mit einem orangefarbenen hut starrt auf etwas . zwei hunde spielen im schnee".split()
ENGLISH = "a man in an orange hat staring at something . two dogs play in the snow".split()


def tiny_model(arch: str, src_size: int = 40, trg_size: int = 40, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(arch, src_size, trg_size, **{**TINY[arch], **overrides}).eval()


def tiny_family(folder: Path, vocabs, names=("dot", "general"), metrics=lambda i: {}) -> Path:
    """``folder`` holding tiny Luong members of the attention family (one layer, each its own score), as
    ``train.py --family`` lays them out; ``metrics(i)``: more of the i-th member's metrics.json."""
    from seq2seq.models.luong import FAMILY_SIZE, family_hparams

    src_vocab, trg_vocab = vocabs
    for i, name in enumerate(names):
        hparams = {k: v for k, v in family_hparams(name).items() if k not in FAMILY_SIZE}
        model = tiny_model("luong", len(src_vocab), len(trg_vocab), seed=i, layers=1, **hparams)
        save_checkpoint(folder / name, model, src_vocab, trg_vocab, "de", "en",
                        metrics={"arch": "luong", "family": name, "parameters": model.num_parameters(), **metrics(i)})
    return folder


@pytest.fixture(scope="session")
def vocabs():
    return Vocab(["<unk>", "<pad>", "<sos>", "<eos>", *GERMAN]), Vocab(["<unk>", "<pad>", "<sos>", "<eos>", *dict.fromkeys(ENGLISH)])


@pytest.fixture(scope="session")
def checkpoint_root(tmp_path_factory, vocabs) -> Path:
    """A checkpoints/ directory with one random-weight model per architecture."""
    root = tmp_path_factory.mktemp("checkpoints")
    src_vocab, trg_vocab = vocabs
    for arch in ARCHITECTURES:
        model = tiny_model(arch, len(src_vocab), len(trg_vocab))
        save_checkpoint(root / arch, model, src_vocab, trg_vocab, "de", "en",
                        metrics={"arch": arch, "parameters": model.num_parameters(),
                                 "test": {"greedy": {"bleu": 1.0, "chrf": 2.0}, "beam5": {"bleu": 1.5, "chrf": 2.5}}})
    return root


@pytest.fixture(scope="module")
def models(checkpoint_root):
    """The app's models, loaded from the tiny checkpoints (the app is imported only by tests that use it)."""
    from seq2seq.explorer.service import ModelSet

    return ModelSet(checkpoint_root, device="cpu")


@pytest.fixture(scope="module")
def built(models):
    """The app's page (a ``gr.Blocks``) and its callbacks, on the tiny models."""
    import app

    return app.build_app(models)


@pytest.fixture(scope="module")
def ui(built):
    return built[1]


@pytest.fixture(scope="session")
def full_data_dir() -> Path:
    """The full Multi30k; tests that need it skip, saying where it was looked for, without it."""
    missing = [f"{split}.{lang}.gz" for split in FULL_SIZES for lang in ("de", "en")
               if not (FULL_DATA_DIR / f"{split}.{lang}.gz").is_file()]
    if missing:
        pytest.skip(f"needs the full Multi30k (29,000/1,014/1,000 pairs), not found at {FULL_DATA_DIR} "
                    f"(missing {', '.join(missing)}): set SEQ2SEQ_DATA_DIR to it")
    return FULL_DATA_DIR


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """The shipped slice of Multi30k (tests/data/multi30k), copied to a temporary directory under the same
    names: training, loading and batching on a few hundred pairs take seconds."""
    root = tmp_path_factory.mktemp("multi30k")
    for path in SLICE_DIR.glob("*.gz"):
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="session")
def sp(data_dir):
    """A SentencePiece model (joint BPE, 500 pieces) trained on the shipped slice's training pairs."""
    from seq2seq.data import load_split, train_sentencepiece

    split = load_split("train", "de", "en", data_dir)
    return train_sentencepiece([*split.src_text, *split.trg_text], vocab_size=500)


@pytest.fixture(scope="session")
def subword_checkpoint(sp, tmp_path_factory):
    """A random-weight tiny Transformer with that subword vocabulary, written by save_checkpoint."""
    vocab = Vocab.from_sentencepiece(sp)
    torch.manual_seed(0)
    model = build_model("transformer", len(vocab), len(vocab), **TINY["transformer"]).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "transformer", model, vocab, vocab, "de", "en")


@contextlib.contextmanager
def serve_app(checkpoints: Path, log: Path, env: dict | None = None, args: tuple = ()):
    """``python app.py --checkpoints DIR --port FREE [ARGS]`` as a subprocess (``bench.browser.serve``),
    yielded (process, url) once it answers; stopped afterwards. Fails the test with the app's log if it never
    answers."""
    from bench.browser import serve

    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    with contextlib.ExitStack() as stack:
        try:
            proc, url, _ = stack.enter_context(serve(checkpoints, log, env, timeout=120, args=args))
        except RuntimeError as e:          # exited or never answered: the test fails with the app's log
            pytest.fail(str(e))
        yield proc, url


@pytest.fixture(scope="session")
def app_url(checkpoint_root, tmp_path_factory):
    """One ``python app.py`` on the tiny checkpoints (a torch thread), shared by every browser test that needs no
    other models: a page each, one server (each start loads every model)."""
    from test_browser import require_browser

    require_browser()
    with serve_app(checkpoint_root, tmp_path_factory.mktemp("app") / "app.log", {"OMP_NUM_THREADS": "1"}) as (_, url):
        yield url


def open_page(browser, url: str, width: int, height: int = 900):
    """A new page of ``width`` px on the app at ``url``, once its Translate button is there."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#translate-button", timeout=60_000)
    return page


@contextlib.contextmanager
def chromium():
    """Headless Chromium (Debian's, through Playwright), closed afterwards."""
    from test_browser import ARGS, CHROMIUM, require_browser

    with require_browser().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Skips that leave a whole kind of test unrun, repeated just above pytest's summary line (not
# only under -rs) with how many tests each skipped: reason prefix -> what to call them.
SUMMARISED_SKIPS = {"browser tests skipped": "",          # test_browser.require_browser says it itself
                    "needs the full Multi30k": "data tests skipped",        # the full_data_dir and data_dir fixtures
                    "no CUDA device": "CUDA tests skipped"}                 # tests/test_cuda.py


def pytest_terminal_summary(terminalreporter):
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(tuple(SUMMARISED_SKIPS)):
            counts[reason] = counts.get(reason, 0) + 1
    for reason, n in counts.items():
        label = next(label for prefix, label in SUMMARISED_SKIPS.items() if reason.startswith(prefix))
        tests = f"{n} test{'s' if n > 1 else ''}"
        terminalreporter.write_line(f"{label} ({tests}): {reason}" if label else f"{reason} ({tests})", yellow=True)


def pytest_collection_modifyitems(items):
    """Every test in tests/test_browser*.py is marked ``browser`` (it starts the app and headless Chromium), so
    ``-m "not browser and not slow"`` runs the fast rest."""
    for item in items:
        if item.path.name.startswith("test_browser"):
            item.add_marker(pytest.mark.browser)


def build_tiny_marian(directory: Path, data_dir: Path, eos_bias: float = 1.0) -> Path:
    """A tiny random MarianMT (2+2 layers, width 32) with a real MarianTokenizer: source and target
    SentencePiece models (unigram, 300 pieces) trained on the slice's training pairs and one vocab.json laid
    out as opus-mt's (``</s>`` 0, ``<unk>`` 1, ``<pad>`` last, the decoder starting from ``<pad>``), saved with
    ``save_pretrained``. ``eos_bias`` on ``</s>``'s logit makes some translations end before the length limit."""
    import io
    import json

    import sentencepiece as spm
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    from seq2seq.data import load_split

    directory.mkdir(parents=True, exist_ok=True)
    split = load_split("train", "de", "en", data_dir)
    processors = []
    for lines, name in ((split.src_text, "source.spm"), (split.trg_text, "target.spm")):
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=300,
                                       model_type="unigram", character_coverage=1.0, minloglevel=2, num_threads=1,
                                       unk_id=0, eos_id=1, bos_id=-1, pad_id=-1, unk_piece="<unk>", eos_piece="</s>")
        (directory / name).write_bytes(buf.getvalue())
        processors.append(spm.SentencePieceProcessor(model_proto=buf.getvalue()))
    pieces = ["</s>", "<unk>"]
    for sp in processors:
        pieces += [p for p in (sp.id_to_piece(i) for i in range(sp.get_piece_size()))
                   if p not in pieces and p not in ("<unk>", "</s>")]
    pieces.append("<pad>")
    vocab = {p: i for i, p in enumerate(pieces)}
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(str(directory / "source.spm"), str(directory / "target.spm"), str(directory / "vocab.json"))
    torch.manual_seed(0)
    pad = vocab["<pad>"]
    config = MarianConfig(vocab_size=len(vocab), decoder_vocab_size=len(vocab), d_model=32, encoder_layers=2,
                          decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=128, pad_token_id=pad, eos_token_id=0,
                          decoder_start_token_id=pad, forced_eos_token_id=None, scale_embedding=True,
                          share_encoder_decoder_embeddings=True, init_std=0.5)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias[0, 0] = eos_bias
    model.generation_config.bad_words_ids = [[pad]]     # as opus-mt's: <pad> is never an output
    model.generation_config.forced_eos_token_id = None
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def marian_dir(data_dir, tmp_path_factory) -> Path:
    """A tiny random MarianMT and its tokenizer, saved with save_pretrained (see ``build_tiny_marian``)."""
    return build_tiny_marian(tmp_path_factory.mktemp("hf") / "opus-mt-tiny", data_dir)
