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


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


# ---------------------------------------------------------------------------- tokens


class Tokenizer:
    """spaCy's rule-based tokenizer for one language (``spacy.blank``), lowercased."""

    def __init__(self, lang: str, lowercase: bool = True):
        self.lang, self.lowercase = lang, lowercase
        self._nlp = _blank(lang)

    def __call__(self, text: str) -> list[str]:
        return self._tokens(self._nlp.tokenizer(_clean(text)))

    def batch(self, texts: list[str]) -> list[list[str]]:
        return [self._tokens(doc) for doc in self._nlp.tokenizer.pipe(_clean(t) for t in texts)]

    def _tokens(self, doc) -> list[str]:
        return [t.text.lower() if self.lowercase else t.text for t in doc if not t.is_space]


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


class Vocab:
    """Token <-> index, with the specials ``<unk> <pad> <sos> <eos>`` at indices 0..3."""

    def __init__(self, itos: list[str]):
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the specials {SPECIALS}")
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("a vocabulary must not repeat a token")

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


def tokenized(path: Path, lang: str) -> list[list[str]]:
    """Tokenize a file, caching the result on disk keyed by the file's content."""
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
    import spacy

    cached = cache_dir() / f"{path.name}.{digest}.spacy{spacy.__version__}.json.gz"
    if cached.is_file():
        try:
            with gzip.open(cached, "rt", encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt
    tokens = tokenizer(lang).batch(read_lines(path))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(tokens, f)
    os.replace(tmp, cached)
    return tokens


@dataclass
class Split:
    """One split of a language pair: raw lines, tokens and (once vocabularies exist) ids."""

    name: str
    src_text: list[str]
    trg_text: list[str]
    src_tokens: list[list[str]]
    trg_tokens: list[list[str]]

    def __len__(self) -> int:
        return len(self.src_tokens)

    def limit(self, n: int | None) -> "Split":
        if not n:
            return self
        return Split(self.name, self.src_text[:n], self.trg_text[:n], self.src_tokens[:n], self.trg_tokens[:n])


def load_split(split: str, src: str = "de", trg: str = "en", data_dir=None) -> Split:
    for lang in (src, trg):
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; Multi30k has {', '.join(LANGUAGES)}")
    src_path, trg_path = find_split_files(split, (src, trg), data_dir)
    src_text, trg_text = read_lines(src_path), read_lines(trg_path)
    if len(src_text) != len(trg_text):
        raise ValueError(f"{src_path} and {trg_path} have different numbers of lines")
    return Split(split, src_text, trg_text, tokenized(src_path, src), tokenized(trg_path, trg))


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


def encode_pairs(split: Split, src_vocab: Vocab, trg_vocab: Vocab, max_len: int = 256):
    """Id sequences: source tokens (no specials) and target ``<sos> ... <eos>``."""
    src = [src_vocab.encode(s[:max_len]) or [UNK_IDX] for s in split.src_tokens]
    trg = [[SOS_IDX] + trg_vocab.encode(t[:max_len]) + [EOS_IDX] for t in split.trg_tokens]
    return src, trg


def make_batch(src_ids: list[list[int]], trg_ids: list[list[int]], index: list[int]) -> Batch:
    src = [src_ids[i] for i in index]
    return Batch(pad(src), torch.tensor([len(s) for s in src]), pad([trg_ids[i] for i in index]), list(index))


def bucketed_batches(src_ids, trg_ids, max_tokens: int, shuffle: bool, seed: int = 0, epoch: int = 0):
    """Batches of similar lengths, each with at most ``max_tokens`` padded tokens per side.

    Sentences are sorted by length (ties broken at random when shuffling) and cut into
    batches; the batch order is shuffled. The same ``seed`` and ``epoch`` give the same batches.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(src_ids)))
    if shuffle:
        rng.shuffle(order)
    order.sort(key=lambda i: (len(src_ids[i]), len(trg_ids[i])))  # stable: shuffled ties
    batches, current, longest = [], [], 0
    for i in order:
        longest_next = max(longest, len(src_ids[i]), len(trg_ids[i]))
        if current and longest_next * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest_next = [], max(len(src_ids[i]), len(trg_ids[i]))
        current.append(i)
        longest = longest_next
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    for index in batches:
        yield make_batch(src_ids, trg_ids, index)
