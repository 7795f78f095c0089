"""Alignment quality of a map: AER (Och & Ney 2003) against reference word alignments.

Hard alignments from a [T, S] map (rows: the output words, then ``<eos>`` if present; columns: the source
words), as (source position, target position) links, 0-based:

    argmax    output word i is aligned to the source word its own row weighs most: row i
    shifted   Chen et al. 2020: read word i's alignment at the step where it is the decoder's *input*, row i + 1
              (the step that writes the next word; for the last word the <eos> row, or no link without one)

    AER(A; S, P) = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|)

against sure links S and possible links P (S is taken to be part of P; with no separate possible
links P = S, and AER = 1 - F1). Over a corpus the four counts are summed first.

The reference: eflomal (Östling & Tiedemann 2016; PyPI ``eflomal``) trained on Multi30k train plus the
whole scored split, tokenized as the models read it (spaCy, lowercased), in both directions, the two
symmetrised with grow-diag-final (Koehn et al. 2003; ``grow_diag_final`` below, the package has none). Its
links are all "sure". It is computed once per split and cached under ``$SEQ2SEQ_CACHE_DIR``
(default ``~/.cache/seq2seq``)/alignments/, never in the repository. eflomal samples: a fresh run differs
slightly, so the cached file is the reference.

``python -m seq2seq.analysis.faithfulness CHECKPOINT`` (its alignment half; ``--only alignment``) scores every map
of ``faithfulness.compute_maps`` (the registry's, ``maps.py``: attention, saliency, integrated gradients, ...) with the
reference translation forced through the model. ``--reference FILE``: Pharaoh links, one line per sentence
of the split, ``i-j`` sure and ``i?j`` possible (source i, target j).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import torch

Link = tuple[int, int]          # (source position, target position)
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


# ---------------------------------------------------------------------------- hard alignments and AER


def hard_alignment(weights: torch.Tensor, n_words: int | None = None, shifted: bool = False) -> set[Link]:
    """Links (source j, target i) for the first ``n_words`` output words (default: every row) of a
    [T, S] map: j = argmax of row i, or of row i + 1 when ``shifted`` (no link where that row is missing).
    Ties go to the earlier source word."""
    T, S = weights.shape
    n_words = T if n_words is None else n_words
    links = set()
    for i in range(n_words):
        row = i + 1 if shifted else i
        if row < T and S:
            links.add((int(torch.argmax(weights[row])), i))   # argmax returns the first of equal maxima
    return links


def aer_counts(hypothesis: set[Link], sure: set[Link], possible: set[Link] | None = None) -> tuple[int, int, int, int]:
    """(|A ∩ S|, |A ∩ P|, |A|, |S|), with P the union of ``possible`` and ``sure``."""
    possible = set(sure) | set(possible or ())
    return len(hypothesis & sure), len(hypothesis & possible), len(hypothesis), len(sure)


def aer(hypothesis: set[Link], sure: set[Link], possible: set[Link] | None = None) -> float:
    """1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|) of one sentence."""
    return corpus_aer([aer_counts(hypothesis, sure, possible)])


def corpus_aer(counts) -> float:
    """AER of summed counts (``aer_counts`` of each sentence)."""
    a_s = a_p = a = s = 0
    for c in counts:
        a_s, a_p, a, s = a_s + c[0], a_p + c[1], a + c[2], s + c[3]
    if a + s == 0:
        return 0.0
    return 1.0 - (a_s + a_p) / (a + s)


def parse_links(line: str) -> tuple[set[Link], set[Link]]:
    """Pharaoh format ``"0-0 1-2 2?1"`` -> (sure links, possible links), as (source, target) pairs."""
    sure, possible = set(), set()
    for item in line.split():
        if "?" in item:
            i, j = item.split("?")
            possible.add((int(i), int(j)))
        else:
            i, j = item.split("-")[:2]
            sure.add((int(i), int(j)))
    return sure, possible


def format_links(links) -> str:
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


# ---------------------------------------------------------------------------- symmetrisation


def grow_diag_final(forward: set[Link], backward: set[Link]) -> set[Link]:
    """Symmetrise two directional alignments (Koehn et al. 2003; Koehn's textbook pseudo-code): start from
    their intersection; grow it with points of their union adjacent (also diagonally) to an alignment point,
    whose source or target word is still unaligned, until nothing is added; then, from each direction in
    turn, add its points whose source or target word is still unaligned. The scan goes target position by
    target position, source positions inside ("for english word e, for foreign word f")."""
    forward, backward = set(forward), set(backward)
    union = forward | backward
    if not union:
        return set()
    n_src = 1 + max(s for s, _ in union)
    n_trg = 1 + max(t for _, t in union)
    links = forward & backward
    src_aligned = {s for s, _ in links}
    trg_aligned = {t for _, t in links}

    def add(s, t):
        links.add((s, t))
        src_aligned.add(s)
        trg_aligned.add(t)

    grown = True
    while grown:                                                     # grow-diag
        grown = False
        for t in range(n_trg):
            for s in range(n_src):
                if (s, t) not in links:
                    continue
                for ds, dt in NEIGHBOURS:
                    ns, nt = s + ds, t + dt
                    if ((ns, nt) in union and (ns, nt) not in links
                            and (ns not in src_aligned or nt not in trg_aligned)):
                        add(ns, nt)
                        grown = True
    for direction in (forward, backward):                            # final
        for t in range(n_trg):
            for s in range(n_src):
                if ((s, t) in direction and (s, t) not in links
                        and (s not in src_aligned or t not in trg_aligned)):
                    add(s, t)
    return links


# ---------------------------------------------------------------------------- the eflomal reference


def alignment_cache_dir() -> Path:
    from ..data import cache_dir

    return cache_dir() / "alignments"


def _line(tokens: list[str]) -> str:
    return " ".join("".join(tok.split()) or "_" for tok in tokens)   # one token, one field


def eflomal_links(src_tokens: list[list[str]], trg_tokens: list[list[str]]) -> tuple[list[set[Link]], list[set[Link]]]:
    """Forward and reverse eflomal links of every sentence pair (both as (source, target) pairs)."""
    try:
        import eflomal
    except ImportError as e:
        raise RuntimeError("the reference alignments need eflomal: pip install eflomal") from e
    with tempfile.TemporaryDirectory() as tmp:
        fwd, rev = Path(tmp) / "fwd", Path(tmp) / "rev"
        eflomal.Aligner().align([_line(s) + "\n" for s in src_tokens], [_line(t) + "\n" for t in trg_tokens],
                                links_filename_fwd=str(fwd), links_filename_rev=str(rev), quiet=True)
        read = lambda p: [parse_links(line)[0] for line in p.read_text().split("\n")[: len(src_tokens)]]  # noqa: E731
        return read(fwd), read(rev)


def reference_alignments(split: str = "test_2016_flickr", src: str = "de", trg: str = "en", data_dir=None,
                         log=print) -> list[set[Link]]:
    """grow-diag-final eflomal links of every sentence of ``split`` (trained with Multi30k train), cached."""
    from ..data import load_split

    scored, train = load_split(split, src, trg, data_dir), load_split("train", src, trg, data_dir)
    import eflomal  # noqa: F401  (fail before hashing when it is missing)
    from importlib.metadata import version

    digest = hashlib.sha1()
    for sentences in (train.src_tokens, train.trg_tokens, scored.src_tokens, scored.trg_tokens):
        for s in sentences:
            digest.update((_line(s) + "\n").encode())
    digest.update(f"eflomal {version('eflomal')} gdf".encode())
    path = alignment_cache_dir() / f"multi30k.{split}.{src}-{trg}.eflomal-gdf.{digest.hexdigest()[:16]}.txt"
    if path.is_file():
        lines = path.read_text().split("\n")[: len(scored)]
        if len(lines) == len(scored):
            return [parse_links(line)[0] for line in lines]
    log(f"aligning Multi30k train + {split} with eflomal ({len(train) + len(scored):,} pairs; cached in {path})")
    start = time.perf_counter()
    fwd, rev = eflomal_links(train.src_tokens + scored.src_tokens, train.trg_tokens + scored.trg_tokens)
    links = [grow_diag_final(f, r) for f, r in zip(fwd[len(train):], rev[len(train):])]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("".join(format_links(x) + "\n" for x in links))
    os.replace(tmp, path)
    log(f"  done in {time.perf_counter() - start:.0f} s")
    return links


# ---------------------------------------------------------------------------- a model's maps against it


def corpus_alignment_error(translator, src_texts: list[str], references: list[list[str]], sure: list[set[Link]],
                           possible: list[set[Link]] | None = None, kinds=None, seed: int = 0,
                           progress=None) -> dict[str, dict[str, float]]:
    """AER of each map kind (argmax and shifted) with each reference translation forced through the model."""
    from ..data import EOS_IDX, map_onto_words, tokenizer
    from . import maps
    from .faithfulness import DEFAULT_KINDS, compute_maps

    kinds = kinds or DEFAULT_KINDS["alignment"]
    counts: dict[str, dict[str, list]] = {}
    model = translator.model
    for i, (text, ref) in enumerate(zip(src_texts, references)):
        src_tokens = translator.tokenize(text)[0]
        if not src_tokens or not ref:
            continue
        src_ids, trg_ids = translator.src_vocab.encode(src_tokens), translator.target_ids(ref) + [EOS_IDX]
        try:
            scored = compute_maps(maps.Forced(model, src_ids, trg_ids, seed=seed * 1_000_003 + i), kinds)
        except maps.MapTooLong:
            continue                                  # too long for the gradient maps: left out of every map's AER
        if translator.subword:                        # the gold links are between words: merge the pieces
            src_words, pieces = tokenizer(translator.config["src_lang"])(text), translator.trg_vocab.decode(trg_ids[:-1])
            scored = {kind: map_onto_words(w, pieces, ref, src_tokens, src_words) for kind, w in scored.items()}
        for kind, weights in scored.items():
            for variant in ("argmax", "shifted"):
                links = hard_alignment(weights, len(ref), shifted=variant == "shifted")
                counts.setdefault(kind, {}).setdefault(variant, []).append(
                    aer_counts(links, sure[i], possible[i] if possible else None))
        if progress:
            progress(i + 1, len(src_texts))
    return {kind: {variant: corpus_aer(c) for variant, c in v.items()} for kind, v in counts.items()}
