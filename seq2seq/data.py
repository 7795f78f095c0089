"""Multi30k: finding the files, tokenizing, vocabularies and length-bucketed batches.

Where the data comes from, in this order: an explicit directory (``--data-dir``), the
environment variable ``SEQ2SEQ_DATA_DIR``, then ``data/multi30k/`` in the project. If
that last one lacks the files they are downloaded from the dataset's public repository.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import urllib.request
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

LANGUAGES = ("en", "de", "fr", "cs")
SPLITS = ("train", "val", "test_2016_flickr")
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "multi30k"
DOWNLOAD_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/{name}"

UNK, PAD, SOS, EOS = "<unk>", "<pad>", "<sos>", "<eos>"
SPECIALS = (UNK, PAD, SOS, EOS)
UNK_IDX, PAD_IDX, SOS_IDX, EOS_IDX = 0, 1, 2, 3


class DataNotFoundError(FileNotFoundError):
    """The Multi30k files are neither on disk nor downloadable."""


class CorpusError(ValueError):
    """A corpus file is not a parallel corpus (unequal line counts, a TSV line without a tab)."""


def _files(split: str, langs) -> list[str]:
    return [f"{split}.{lang}.gz" for lang in langs]


def data_dir_error(where: Path, missing: list[str], reason: str = "") -> DataNotFoundError:
    expected = ", ".join(_files("{train,val,test_2016_flickr}", ["{src}", "{trg}"]))
    return DataNotFoundError(
        f"Multi30k data not found in {where} (missing: {', '.join(missing)})"
        + (f" and it could not be downloaded ({reason})" if reason else "")
        + f". Point to a directory holding {expected} (e.g. train.de.gz, train.en.gz) "
        "with --data-dir DIR or the environment variable SEQ2SEQ_DATA_DIR."
    )


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The data directory to use, and whether it may be filled by downloading."""
    if data_dir:
        return Path(data_dir).expanduser(), False
    if os.environ.get("SEQ2SEQ_DATA_DIR"):
        return Path(os.environ["SEQ2SEQ_DATA_DIR"]).expanduser(), False
    return DEFAULT_DATA_DIR, True


def download(name: str, dest: Path, url_template: str = DOWNLOAD_URL, timeout: float = 20) -> None:
    """Download one file with a progress bar, atomically (a partial file never stays)."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url_template.format(name=name), timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=name) as bar:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def find_split_files(split: str, langs, data_dir=None, url_template: str = DOWNLOAD_URL) -> list[Path]:
    """Paths of ``{split}.{lang}.gz`` for each language, downloading into the default dir if allowed."""
    where, may_download = resolve_data_dir(data_dir)
    names = _files(split, langs)
    missing = [n for n in names if not (where / n).is_file()]
    if missing and not may_download:
        raise data_dir_error(where, missing)
    for name in missing:
        try:
            download(name, where / name, url_template)
        except OSError as e:  # URLError, timeouts and refused connections are all OSErrors
            raise data_dir_error(where, missing, reason=str(getattr(e, "reason", e))) from None
    return [where / n for n in names]


def open_text(path: Path):
    """A text file for reading, gzip-compressed or plain (told by its first bytes, not its name)."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gzipped else open(path, encoding="utf-8")


def read_lines(path: Path) -> list[str]:
    with open_text(path) as f:
        return [line.rstrip("\r\n") for line in f]


def read_parallel(files) -> tuple[list[str], list[str]]:
    """Source and target lines of a parallel corpus: two files, line i of one translating line i of the
    other, or one TSV file of ``source<TAB>target`` lines. Plain or gzipped text."""
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise DataNotFoundError(f"corpus file {f} not found")
    if len(files) == 2:
        src, trg = read_lines(files[0]), read_lines(files[1])
        if len(src) != len(trg):
            raise CorpusError(f"{files[0]} has {len(src)} lines and {files[1]} {len(trg)}: a parallel corpus "
                             "needs one translation per line")
        return src, trg
    if len(files) != 1:
        raise CorpusError("give a corpus as two files (source, target) or one TSV file")
    src, trg = [], []
    for n, line in enumerate(read_lines(files[0]), 1):
        cols = line.split("\t")
        if len(cols) < 2:
            raise CorpusError(f"{files[0]}, line {n}: a TSV corpus needs source<TAB>target on every line")
        src.append(cols[0])
        trg.append(cols[1])
    return src, trg


# ---------------------------------------------------------------------------- tokens


class Tokenizer:
    """spaCy's rule-based tokenizer for one language (``spacy.blank``), lowercased: word tokens."""

    subword = False

    def __init__(self, lang: str, lowercase: bool = True):
        self.lang, self.lowercase = lang, lowercase
        self._nlp = _blank(lang)

    def __call__(self, text: str) -> list[str]:
        return self._tokens(self._nlp.tokenizer(_clean(text)))

    def batch(self, texts: list[str]) -> list[list[str]]:
        return [self._tokens(doc) for doc in self._nlp.tokenizer.pipe(_clean(t) for t in texts)]

    def _tokens(self, doc) -> list[str]:
        return [t.text.lower() if self.lowercase else t.text for t in doc if not t.is_space]

    def detokenize(self, tokens: list[str]) -> str:
        return detokenize(tokens)


@lru_cache(maxsize=None)
def tokenizer(lang: str, lowercase: bool = True) -> Tokenizer:
    """The one shared tokenizer of a language, built on first use (the translator, the app and the
    analysis all take theirs from here)."""
    return Tokenizer(lang, lowercase)


@lru_cache(maxsize=None)
def _blank(lang: str):
    import spacy

    return spacy.blank(lang)


# spaCy takes time quadratic in the length of a run without spaces (10,000 emoji: seconds), so
# runs are cut every 100 characters; no word of the corpus is a tenth as long.
_LONG_RUN = re.compile(r"\S{100}")


def _clean(text: str) -> str:
    # Control characters (other than whitespace) carry no meaning for translation.
    text = "".join(c if c.isprintable() or c.isspace() else " " for c in text)
    return _LONG_RUN.sub(r"\g<0> ", text)


_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}'»“”]|n't|'s|'re|'ve|'m|'ll|'d)(?= |$)")
_NO_SPACE_AFTER = re.compile(r"([(\[{„«]) ")


def detokenize(tokens: list[str]) -> str:
    """Join word tokens for display: no space before punctuation, first letter capitalised."""
    text = " ".join(tokens)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)  # twice: overlapping matches such as ". )"
    text = _NO_SPACE_AFTER.sub(r"\1", text)
    text = re.sub(r' " ([^"]*?) "', r' "\1"', text)
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------- subwords

WORD_START = "\u2581"  # "▁": SentencePiece marks the piece that begins a word with it
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class SubwordTokenizer:
    """SentencePiece pieces (BPE or unigram), as the model reads them: "▁ein ▁mann ▁mit ▁ein em".

    The model file travels inside the checkpoint; its specials are the project's ``<unk> <pad> <sos>
    <eos>`` at 0..3, so the vocabulary is the model's piece list. Characters it never saw in training
    are spelled as UTF-8 bytes (``<0xF0>``), so nothing becomes ``<unk>``.
    """

    subword = True

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)

    @classmethod
    def from_file(cls, path) -> "SubwordTokenizer":
        return cls(Path(path).read_bytes())

    def __call__(self, text: str) -> list[str]:
        return self._sp.encode(_clean(text), out_type=str)

    def batch(self, texts: list[str]) -> list[list[str]]:
        return self._sp.encode([_clean(t) for t in texts], out_type=str)

    def encode_ids(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text's pieces (the vocabulary is the piece list, so these are its ids)."""
        return self._sp.encode([_clean(t) for t in texts], out_type=int)

    def pieces(self) -> list[str]:
        """Every piece in index order (the vocabulary)."""
        return [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]

    def detokenize(self, pieces: list[str]) -> str:
        """The text the pieces spell (SentencePiece's own decoding), first letter capitalised."""
        text = self._sp.decode([self._sp.piece_to_id(p) for p in pieces])
        return text[:1].upper() + text[1:]


def train_sentencepiece(texts, vocab_size: int, model_type: str = "bpe", character_coverage: float = 1.0,
                        seed: int = 1) -> SubwordTokenizer:
    """Train a SentencePiece model on ``texts`` (an iterable of sentences) with the project's specials.

    The text is NFKC-normalised and case-folded (``nmt_nfkc_cf``), as the word tokenizer lowercases.
    """
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=(_clean(t) for t in texts), model_writer=model, vocab_size=vocab_size,
            model_type=model_type, character_coverage=character_coverage, byte_fallback=True,
            normalization_rule_name="nmt_nfkc_cf", unk_id=UNK_IDX, pad_id=PAD_IDX, bos_id=SOS_IDX, eos_id=EOS_IDX,
            unk_piece=UNK, pad_piece=PAD, bos_piece=SOS, eos_piece=EOS,
            input_sentence_size=2_000_000, shuffle_input_sentence=True, minloglevel=2, num_threads=1,
            hard_vocab_limit=False)
    except RuntimeError as e:   # e.g. fewer pieces asked for than the text has characters (plus 256 bytes)
        reason = str(e).split("] ")[-1]
        raise CorpusError(f"SentencePiece could not make {vocab_size} pieces of this text: {reason}") from None
    return SubwordTokenizer(model.getvalue())


_SPECIAL_PIECE = re.compile(r"</?[A-Za-z_]+>")


def is_special(piece: str) -> bool:
    """A special token rather than text: the project's ``<unk> <pad> <sos> <eos>`` or a model's own
    (``</s>``, ``<pad>``); not a byte piece (``<0xF0>``)."""
    return piece in SPECIALS or bool(_SPECIAL_PIECE.fullmatch(piece))


def _piece_chars(pieces: list[str]) -> list[tuple[str, int]]:
    """The characters the pieces spell, each with the index of its piece (byte pieces decoded)."""
    out: list[tuple[str, int]] = []
    pending: list[tuple[int, int]] = []   # (byte, piece index) of a run of byte pieces

    def flush():
        if pending:
            text = bytes(b for b, _ in pending).decode("utf-8", errors="replace")
            out.extend((c, pending[0][1]) for c in text)
            pending.clear()

    for i, piece in enumerate(pieces):
        byte = _BYTE_PIECE.fullmatch(piece)
        if byte:
            pending.append((int(byte.group(1), 16), i))
            continue
        flush()
        if is_special(piece):
            continue
        out.extend((c, i) for c in piece.replace(WORD_START, "") if not c.isspace())
    flush()
    return out


def _fold(c: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", c).casefold()


def piece_word_index(pieces: list[str], words: list[str]) -> list[int | None]:
    """The index of the word each piece falls in (by its first character), None for specials and for
    pieces that match no word's characters. Characters are compared case-folded and NFKC-normalised,
    spaces ignored; the later bytes of a character spelled in bytes go with its first, a bare "▁" with
    the piece after it."""
    import difflib

    chars = _piece_chars(pieces)
    word_chars = [(_fold(c), w) for w, word in enumerate(words) for ch in word if not ch.isspace() for c in ch]
    a = "".join(_fold(c) for c, _ in chars)
    b = "".join(c for c, _ in word_chars)
    # Character offsets of the folded piece text (folding can change a character's length, e.g. "ß" stays,
    # "ﬁ" becomes "fi"): expand the owners alongside.
    a_owner = [i for c, i in chars for _ in _fold(c)]
    b_owner = [w for c, w in word_chars for _ in c]
    piece_word: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            piece_word.setdefault(a_owner[block.a + k], b_owner[block.b + k])
    spelled = {i for _, i in chars}
    for i in range(1, len(pieces)):                 # the later bytes of a character belong with its first
        if i not in spelled and _BYTE_PIECE.fullmatch(pieces[i]) and i - 1 in piece_word:
            piece_word[i] = piece_word[i - 1]
    for i in reversed(range(len(pieces) - 1)):      # a bare "▁" belongs to the word after it
        if i not in piece_word and not is_special(pieces[i]) and i + 1 in piece_word:
            piece_word[i] = piece_word[i + 1]
    return [None if is_special(p) else piece_word.get(i) for i, p in enumerate(pieces)]


def onto_words(weights: torch.Tensor, rows: list[int | None] | None, n_rows: int, cols: list[int | None] | None,
               n_cols: int) -> torch.Tensor:
    """A [..., pieces, pieces] map over exactly the given words (``piece_word_index`` of each axis): a word's
    column is the sum of its pieces' columns, its row the mean of its pieces' rows; a word with no piece of
    its own, zero. Pieces of no word (None) are left out. ``rows``/``cols`` None keep that axis."""
    if cols is not None:
        out = weights.new_zeros(*weights.shape[:-1], n_cols)
        for p, w in enumerate(cols):
            if w is not None:
                out[..., w] += weights[..., p]
        weights = out
    if rows is not None:
        out, count = weights.new_zeros(*weights.shape[:-2], n_rows, weights.shape[-1]), [0] * n_rows
        for p, w in enumerate(rows):
            if w is not None:
                out[..., w, :] += weights[..., p, :]
                count[w] += 1
        weights = out / torch.tensor([max(c, 1) for c in count], dtype=out.dtype, device=out.device)[:, None]
    return weights


def map_onto_words(weights: torch.Tensor, out_pieces: list[str], out_words: list[str], src_pieces: list[str],
                   src_words: list[str]) -> torch.Tensor:
    """A [T, S] map of a subword model, rows its output pieces (then ``<eos>`` if there is one more row),
    columns its source pieces, as a map over the given words: [len(out_words) (+1), len(src_words)]. Used
    wherever a subword model's map meets word-level ones: AER against gold word links, Compare."""
    rows, cols = piece_word_index(out_pieces, out_words), piece_word_index(src_pieces, src_words)
    n = len(out_pieces)
    words = onto_words(weights[:n], rows, len(out_words), cols, len(src_words))
    return torch.cat([words, onto_words(weights[n:], None, 0, cols, len(src_words))]) if weights.size(0) > n else words


def merge_pieces(pieces: list[str], words: list[str] | None = None) -> list[tuple[str, list[int]]]:
    """Group subword pieces into words: ``[(label, [piece indices]), ...]`` in order, every piece in
    exactly one group, each group a run of consecutive pieces.

    Without ``words``, a word is a piece that starts with "▁" and the pieces after it up to the next
    such piece. With ``words`` (e.g. the spaCy tokens of the same text, the unit of BLEU and of the gold
    alignments), each piece joins the word its first character falls in (matched on case-folded,
    NFKC-normalised characters, spaces ignored); a word that no piece starts in is joined to the group
    before it ("hut." when one piece spells "t."), so the groups always partition the pieces. A special
    (``<eos>``) is a group of its own. The one merging function for every subword model.
    """
    if words is None:
        groups: list[tuple[str, list[int]]] = []
        for i, piece in enumerate(pieces):
            if is_special(piece) or not groups or piece.startswith(WORD_START) or is_special(groups[-1][0]):
                groups.append((piece, [i]))
            else:
                groups[-1][1].append(i)
        chars = _piece_chars(pieces)
        return [(piece if len(idx) == 1 and is_special(pieces[idx[0]])
                 else "".join(c for c, i in chars if i in idx) or pieces[idx[0]], idx) for piece, idx in groups]

    piece_word = dict(enumerate(piece_word_index(pieces, words)))
    chars = _piece_chars(pieces)
    groups = []   # (word indices, piece indices)
    for i, piece in enumerate(pieces):
        if is_special(piece):
            groups.append(([], [i]))
            continue
        w = piece_word.get(i)
        if groups and groups[-1][0] and (w is None or w <= groups[-1][0][-1]):
            groups[-1][1].append(i)              # continues the current word (or matched nothing)
        elif w is None:
            groups.append(([], [i]))
        else:
            start = groups[-1][0][-1] + 1 if groups and groups[-1][0] else 0
            if groups and groups[-1][0] and w > start:
                groups[-1][0].extend(range(start, w))   # words no piece starts in join the group before
            groups.append(([w], [i]))
    if groups and groups[-1][0]:
        groups[-1][0].extend(range(groups[-1][0][-1] + 1, len(words)))
    out = []
    for word_idx, idx in groups:
        if word_idx:
            label = "".join(words[w] for w in word_idx)
        else:
            label = pieces[idx[0]] if is_special(pieces[idx[0]]) else "".join(c for c, i in chars if i in idx) or pieces[idx[0]]
        out.append((label, idx))
    return out


def merge_map(weights: torch.Tensor, rows: list[list[int]] | None, cols: list[list[int]] | None) -> torch.Tensor:
    """A [..., T, S] map over pieces as a map over words: a word's column is the sum of its pieces' columns
    (the mass on the word), a word's row the mean of its pieces' rows (a distribution stays one).
    ``rows``/``cols``: the piece indices of each word (``merge_pieces``), None to keep that axis."""
    if cols is not None:
        weights = torch.stack([weights[..., idx].sum(dim=-1) for idx in cols], dim=-1)
    if rows is not None:
        weights = torch.stack([weights[..., idx, :].mean(dim=-2) for idx in rows], dim=-2)
    return weights


class Vocab:
    """Token <-> index, with the specials ``<unk> <pad> <sos> <eos>`` at indices 0..3.

    A subword vocabulary carries its SentencePiece tokenizer (``tokenizer``), whose pieces it is; a
    word vocabulary has none (its text is tokenized by spaCy, ``tokenizer(lang)``).
    """

    def __init__(self, itos: list[str], tokenizer: "SubwordTokenizer | None" = None):
        self.tokenizer = tokenizer
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the specials {SPECIALS}")
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("a vocabulary must not repeat a token")

    @classmethod
    def from_sentencepiece(cls, sp: SubwordTokenizer) -> "Vocab":
        return cls(sp.pieces(), sp)

    @property
    def subword(self) -> bool:
        return self.tokenizer is not None

    @classmethod
    def build(cls, sentences, min_freq: int = 2) -> "Vocab":
        counts = Counter(t for s in sentences for t in s)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                      key=lambda t: (-counts[t], t))
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.stoi.get(t, UNK_IDX) for t in tokens]

    def decode(self, ids) -> list[str]:
        return [self.itos[i] for i in ids]


# ---------------------------------------------------------------------------- corpus


def cache_dir() -> Path:
    return Path(os.environ.get("SEQ2SEQ_CACHE_DIR", Path.home() / ".cache" / "seq2seq"))


def _digest(lines: list[str]) -> str:
    h = hashlib.sha1()
    for line in lines:
        h.update(line.encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()[:16]


def tokenized(lines: list[str], lang: str, name: str = "text") -> list[list[str]]:
    """spaCy tokens of ``lines``, cached on disk keyed by their content: a corpus is tokenized once."""
    import spacy

    cached = cache_dir() / f"{name}.{lang}.{_digest(lines)}.spacy{spacy.__version__}.json.gz"
    if cached.is_file():
        try:
            with gzip.open(cached, "rt", encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    tokens = tokenizer(lang).batch(lines)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(tokens, f)
    os.replace(tmp, cached)
    return tokens


class Split:
    """One split of a language pair: raw lines, and spaCy's tokens of them, made on first use (and cached
    on disk), so a subword run never pays for them on its training text."""

    def __init__(self, name: str, src_text: list[str], trg_text: list[str], src_tokens=None, trg_tokens=None,
                 src_lang: str = "de", trg_lang: str = "en"):
        if len(src_text) != len(trg_text):
            raise CorpusError(f"{name}: {len(src_text)} source and {len(trg_text)} target lines")
        self.name, self.src_text, self.trg_text = name, src_text, trg_text
        self.src_lang, self.trg_lang = src_lang, trg_lang
        self._src_tokens, self._trg_tokens = src_tokens, trg_tokens

    @property
    def src_tokens(self) -> list[list[str]]:
        if self._src_tokens is None:
            self._src_tokens = tokenized(self.src_text, self.src_lang, self.name)
        return self._src_tokens

    @property
    def trg_tokens(self) -> list[list[str]]:
        if self._trg_tokens is None:
            self._trg_tokens = tokenized(self.trg_text, self.trg_lang, self.name)
        return self._trg_tokens

    def __len__(self) -> int:
        return len(self.src_text)

    def limit(self, n: int | None) -> "Split":
        if not n:
            return self
        cut = lambda tokens: None if tokens is None else tokens[:n]  # noqa: E731
        return Split(self.name, self.src_text[:n], self.trg_text[:n], cut(self._src_tokens), cut(self._trg_tokens),
                     self.src_lang, self.trg_lang)


def load_split(split: str, src: str = "de", trg: str = "en", data_dir=None) -> Split:
    """A split of Multi30k (``train``, ``val``, ``test_2016_flickr``)."""
    for lang in (src, trg):
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; Multi30k has {', '.join(LANGUAGES)}")
    src_path, trg_path = find_split_files(split, (src, trg), data_dir)
    return load_corpus(split, [src_path, trg_path], src, trg)


def load_corpus(name: str, files, src: str, trg: str) -> Split:
    """A split of any parallel corpus: two files or one TSV (``read_parallel``), any language pair that
    spaCy's rule-based tokenizers know (``spacy.blank``)."""
    src_text, trg_text = read_parallel(files)
    return Split(name, src_text, trg_text, src_lang=src, trg_lang=trg)


# ---------------------------------------------------------------------------- batches


@dataclass
class Batch:
    src: torch.Tensor       # [B, S] source ids, padded with PAD_IDX
    src_lens: torch.Tensor  # [B]
    trg: torch.Tensor       # [B, T] <sos> y_1 ... y_n <eos>, padded
    index: list[int]        # positions of these sentences in the split

    def to(self, device) -> "Batch":
        return Batch(self.src.to(device), self.src_lens.to(device), self.trg.to(device), self.index)

    @property
    def num_target_tokens(self) -> int:
        return int((self.trg[:, 1:] != PAD_IDX).sum())


def pad(seqs: list[list[int]], value: int = PAD_IDX) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


class EncodedPairs:
    """A corpus as ids, in flat int32 arrays (a few bytes a token, not a Python list a sentence): source
    ids without specials, target ids ``<sos> ... <eos>``. Batches are cut from it on demand."""

    def __init__(self, src: np.ndarray, src_offsets: np.ndarray, trg: np.ndarray, trg_offsets: np.ndarray):
        self.src, self.src_offsets, self.trg, self.trg_offsets = src, src_offsets, trg, trg_offsets
        self.src_lens = np.diff(src_offsets).astype(np.int32)
        self.trg_lens = np.diff(trg_offsets).astype(np.int32)

    def __len__(self) -> int:
        return len(self.src_lens)

    def source(self, i: int) -> list[int]:
        return self.src[self.src_offsets[i]: self.src_offsets[i + 1]].tolist()

    def target(self, i: int) -> list[int]:
        return self.trg[self.trg_offsets[i]: self.trg_offsets[i + 1]].tolist()

    def batch(self, index: list[int]) -> "Batch":
        src = [self.source(i) for i in index]
        return Batch(pad(src), torch.tensor([len(x) for x in src]), pad([self.target(i) for i in index]), list(index))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("src", "src_offsets", "trg", "trg_offsets"):
            tmp = directory / f".{name}.{os.getpid()}.tmp.npy"
            np.save(tmp, getattr(self, name))
            os.replace(tmp, directory / f"{name}.npy")

    @classmethod
    def load(cls, directory: Path) -> "EncodedPairs":
        """Memory-mapped: the operating system pages in what the batches touch."""
        return cls(*(np.load(directory / f"{name}.npy", mmap_mode="r")
                     for name in ("src", "src_offsets", "trg", "trg_offsets")))


def encode_pairs(split: Split, src_vocab: Vocab, trg_vocab: Vocab, max_len: int = 256, chunk: int = 20_000,
                 cache: bool = False) -> EncodedPairs:
    """Ids of a split (source tokens, target ``<sos> ... <eos>``), each side cut at ``max_len`` tokens. A
    subword vocabulary reads the raw text through its SentencePiece model; a word vocabulary reads spaCy's
    tokens. With ``cache``, the ids are kept on disk keyed by the text and the vocabularies, and memory-mapped."""
    if cache:
        key = hashlib.sha1(f"{_digest(split.src_text)} {_digest(split.trg_text)} {_digest(src_vocab.itos)} "
                           f"{_digest(trg_vocab.itos)} {max_len}".encode()).hexdigest()[:16]
        where = cache_dir() / f"{split.name}.ids.{key}"
        if (where / "trg_offsets.npy").is_file():
            try:
                return EncodedPairs.load(where)
            except (OSError, ValueError):
                pass  # a damaged cache is rebuilt

    def side(vocab: Vocab, lines: list[str], tokens, wrap) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids and offsets of one side, a chunk at a time: no corpus-sized Python list of ids or pieces."""
        data, lengths = [], []
        for start in range(0, len(lines), chunk):
            if vocab.subword:
                seqs = vocab.tokenizer.encode_ids(lines[start: start + chunk])
            else:
                seqs = [vocab.encode(t) for t in tokens()[start: start + chunk]]
            seqs = [wrap(x[:max_len]) for x in seqs]
            lengths.append(np.fromiter((len(x) for x in seqs), dtype=np.int64, count=len(seqs)))
            data.append(np.fromiter((i for x in seqs for i in x), dtype=np.int32))
        lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return (np.concatenate(data) if data else np.zeros(0, dtype=np.int32)), offsets

    pairs = EncodedPairs(*side(src_vocab, split.src_text, lambda: split.src_tokens, lambda x: x or [UNK_IDX]),
                         *side(trg_vocab, split.trg_text, lambda: split.trg_tokens, lambda x: [SOS_IDX, *x, EOS_IDX]))
    if cache:
        pairs.save(where)
    return pairs


def make_batch(src_ids: list[list[int]], trg_ids: list[list[int]], index: list[int]) -> Batch:
    src = [src_ids[i] for i in index]
    return Batch(pad(src), torch.tensor([len(s) for s in src]), pad([trg_ids[i] for i in index]), list(index))


def bucket(pairs: EncodedPairs, max_tokens: int, shuffle: bool, seed: int = 0, epoch: int = 0) -> list[list[int]]:
    """Indices of length-bucketed batches, each with at most ``max_tokens`` padded tokens per side.

    Sentences are sorted by length (ties broken at random when shuffling) and cut into batches; the
    batch order is shuffled. The same ``seed`` and ``epoch`` give the same batches on every process.
    """
    rng = random.Random(seed * 100_003 + epoch)
    src_lens, trg_lens = pairs.src_lens.tolist(), pairs.trg_lens.tolist()
    order = list(range(len(src_lens)))
    if shuffle:
        rng.shuffle(order)
    order.sort(key=lambda i: (src_lens[i], trg_lens[i]))  # stable: shuffled ties
    batches, current, longest = [], [], 0
    for i in order:
        longest_next = max(longest, src_lens[i], trg_lens[i])
        if current and longest_next * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest_next = [], max(src_lens[i], trg_lens[i])
        current.append(i)
        longest = longest_next
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def bucketed_batches(pairs: EncodedPairs, max_tokens: int, shuffle: bool, seed: int = 0, epoch: int = 0):
    """The batches of ``bucket``, made one at a time."""
    for index in bucket(pairs, max_tokens, shuffle, seed, epoch):
        yield pairs.batch(index)
