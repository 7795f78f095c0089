"""How alignment emerges: after every training epoch, translate a few fixed probe sentences
and record each one's output and cross-attention (averaged over layers and heads) into
``probes.json`` beside the checkpoint, small enough to ship (about 100 KB for 25 epochs)."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import read_json, write_json
from ..translator import Translator
from . import maps

PROBE_SENTENCES = [
    "Ein Mann mit einem orangefarbenen Hut starrt auf etwas.",
    "Zwei Hunde spielen im Schnee.",
    "Eine Frau in einem roten Kleid geht mit ihrem Fahrrad über eine belebte Straße.",
    "Kinder sitzen am Strand und bauen eine Sandburg.",
]


def record_probes(path: Path, translator: Translator, epoch: int, sentences: list[str] = PROBE_SENTENCES) -> dict:
    """Append this epoch's probe translations to ``path`` (dropping any later epochs of an older run)."""
    path = Path(path)
    log = read_json(path) if path.is_file() else {"sentences": sentences, "epochs": []}
    log["epochs"] = [e for e in log["epochs"] if e["epoch"] < epoch]
    probes = []
    has_map = maps.KINDS["cross"].offered(translator.model)
    for t in translator.translate(sentences, beam_size=1):
        align = maps.source_map("cross", maps.Forced.of(translator, t)) if has_map else None
        # "alignment": the file's name for the mean cross-attention (probes.json's format, kept for the shipped files)
        probes.append({"src_tokens": t.src_tokens, "tokens": t.output_labels, "text": t.text,
                       "alignment": None if align is None else [[round(w, 3) for w in row] for row in align.tolist()]})
    log["epochs"].append({"epoch": epoch, "probes": probes})
    write_json(path, log, indent=None)  # compact: it ships with the checkpoint
    return log
