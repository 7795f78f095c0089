"""The one table of results: every checkpoint's ``metrics.json`` (written by ``train.py``) as rows.

Each renderer picks its columns from one definition, so the README and docs/results.md (``tools/report``), the Hub
model card (``tools/hub``) and the app's Leaderboard never disagree on a number or its format:

    rows = result_rows("checkpoints")
    print(markdown(rows, README_COLUMNS))
    frame(rows, LEADERBOARD_COLUMNS)          # {"headers": [...], "data": [[...], ...]} for a data frame

Scores are test_2016_flickr, German to English, sacreBLEU over lowercased spaCy tokens
(``seq2seq.evaluate``). A value that a metrics file lacks is shown as "—" (None in a frame).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .checkpoint import CheckpointError, find_checkpoints, read_config, read_metrics
from .models import ARCHITECTURES
from .papers import paper_rank
from .analysis.maps import KINDS, label, parse

# BLEU of the PyTorch seq2seq tutorial series on the same test set and metric.
TUTORIAL_BLEU = {"lstm": 13.8, "gru": 20.6, "bahdanau": 28.3, "convs2s": 34.1, "transformer": 36.5}
MISSING = "—"


@dataclass
class ResultRow:
    """One checkpoint: its directory name, config.json and metrics.json (either may be empty if unreadable)."""

    name: str
    path: Path
    config: dict
    metrics: dict

    @property
    def arch(self) -> str:
        return self.metrics.get("arch") or self.config.get("arch") or self.name

    @property
    def test(self) -> dict:
        return self.metrics.get("test") or {}

    @property
    def beam(self) -> dict:
        """The beam-search scores: the test entry named ``beamK`` (``beam5`` from train.py)."""
        return next((v for k, v in self.test.items() if k.startswith("beam")), {})

    @property
    def beam_size(self) -> int | None:
        key = next((k for k in self.test if k.startswith("beam")), None)
        return int(key[4:]) if key and key[4:].isdigit() else None


def result_rows(root_or_paths) -> list[ResultRow]:
    """Rows for every checkpoint directly under ``root``, in the order of their papers (``seq2seq.papers``), or for
    the given checkpoint directories in the order given."""
    if isinstance(root_or_paths, (str, Path)):
        root = Path(root_or_paths)
        paths = find_checkpoints(root) if root.is_dir() else []
    else:
        paths = [Path(p) for p in root_or_paths]
    rows = []
    for path in paths:
        try:
            config = read_config(path)
        except CheckpointError:
            config = {}
        try:
            metrics = read_metrics(path) or {}
        except CheckpointError:
            metrics = {}
        rows.append(ResultRow(path.name, path, config, metrics))
    if isinstance(root_or_paths, (str, Path)):
        rows.sort(key=lambda r: paper_rank(r.name, r.arch))
    return rows


def duration(seconds) -> str:
    """Training time as "42 min" or "1 h 05 min"."""
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return MISSING
    minutes = round(seconds / 60)
    if minutes < 1:
        return "< 1 min"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _number(x, digits: int = 2) -> float | None:
    return round(float(x), digits) if isinstance(x, (int, float)) else None


def _parameters(r: ResultRow) -> float | None:
    n = r.metrics.get("parameters") or r.config.get("parameters")
    return round(n / 1e6, 1) if isinstance(n, (int, float)) and n else None


def _size(r: ResultRow) -> float | None:
    """Megabytes (2**20 bytes) of the weights file."""
    size = r.metrics.get("size_bytes")
    weights = r.path / "model.safetensors"
    size = size or (weights.stat().st_size if weights.is_file() else None)
    return round(size / 2**20, 1) if size else None


def _epochs(r: ResultRow) -> str | None:
    m = r.metrics
    return f"{m['epochs_trained']} ({m.get('best_epoch', MISSING)})" if "epochs_trained" in m else None


def faithfulness_value(metrics: dict, kind: str, metric: str, k: str = "20%") -> float | None:
    """One figure of the checkpoint's faithfulness test (``seq2seq.analysis.faithfulness --save``, kept in
    metrics.json): ``metric`` "comprehensiveness" or "sufficiency" at ``k``, or "aer" (argmax) / "aer_shifted",
    of map ``kind`` (``maps.py``'s names: "cross" is the mean cross-attention the app shows, "cross_layer_2",
    "integrated_gradients", ...)."""
    f = metrics.get("faithfulness") or {}
    if metric.startswith("aer"):
        v = (f.get("alignment") or {}).get("aer", {}).get(kind, {}).get("shifted" if metric == "aer_shifted" else "argmax")
    else:
        v = (f.get("deletion") or {}).get("scores", {}).get(kind, {}).get(metric, {}).get(k)
    return _number(v, 3)


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[ResultRow], object]          # the raw value (a number, a string or None)
    text: Callable[[object], str] = lambda v: f"{v:.2f}"   # how markdown shows a value that is not None
    align: str = "--:"


COLUMNS: dict[str, Column] = {
    "model": Column("model", lambda r: f"`{r.name}`", str, "---"),
    "paper": Column("paper", lambda r: r.metrics.get("paper") or getattr(ARCHITECTURES.get(r.arch), "paper", None),
                    str, "---"),
    "parameters": Column("parameters (M)", _parameters, lambda v: f"{v:.1f}"),
    "size": Column("size (MB)", _size, lambda v: f"{v:.1f}"),
    "bleu_greedy": Column("BLEU greedy", lambda r: _number(r.test.get("greedy", {}).get("bleu"))),
    "bleu_beam": Column("BLEU beam 5", lambda r: _number(r.beam.get("bleu"))),
    "chrf_greedy": Column("chrF greedy", lambda r: _number(r.test.get("greedy", {}).get("chrf"))),
    "chrf_beam": Column("chrF beam 5", lambda r: _number(r.beam.get("chrf"))),
    "tutorial": Column("tutorial BLEU", lambda r: TUTORIAL_BLEU.get(r.arch), lambda v: f"{v:.1f}"),
    "val_bleu": Column("val BLEU", lambda r: _number(r.metrics.get("val_bleu"))),
    "epochs": Column("epochs (best)", _epochs, str),
    "speed_greedy": Column("sentences/s greedy", lambda r: _number(r.test.get("greedy", {}).get("sentences_per_second"), 1),
                           lambda v: f"{v:.1f}"),
    "speed_beam": Column("sentences/s beam 5", lambda r: _number(r.beam.get("sentences_per_second"), 1),
                         lambda v: f"{v:.1f}"),
    "training": Column("training", lambda r: duration(r.metrics.get("train_seconds")), str),
    "member": Column("member", lambda r: f"`{r.metrics.get('family') or r.name}`", str, "---"),
    "entropy": Column("mean entropy (bits)", lambda r: _number(r.metrics.get("map_statistics", {}).get("mean_entropy"))),
    "diagonality": Column("diagonality", lambda r: _number(r.metrics.get("map_statistics", {}).get("diagonality"))),
    "monotonicity": Column("monotonicity", lambda r: _number(r.metrics.get("map_statistics", {}).get("monotonicity"))),
    "comp_attention": Column("comp@20% attention", lambda r: faithfulness_value(r.metrics, "cross", "comprehensiveness"),
                             lambda v: f"{v:.3f}"),
    "comp_ig": Column("comp@20% IG", lambda r: faithfulness_value(r.metrics, "integrated_gradients", "comprehensiveness"),
                      lambda v: f"{v:.3f}"),
    "comp_random": Column("comp@20% random", lambda r: faithfulness_value(r.metrics, "random", "comprehensiveness"),
                          lambda v: f"{v:.3f}"),
    "aer_attention": Column("AER attention", lambda r: faithfulness_value(r.metrics, "cross", "aer"),
                            lambda v: f"{v:.3f}"),
    "aer_ig": Column("AER IG", lambda r: faithfulness_value(r.metrics, "integrated_gradients", "aer"),
                     lambda v: f"{v:.3f}"),
    "hardware": Column("hardware", lambda r: r.metrics.get("hardware") or None, str, "---"),
    "command": Column("command", lambda r: f"`{r.metrics['command']}`" if r.metrics.get("command") else None, str, "---"),
}

README_COLUMNS = ("model", "paper", "parameters", "size", "bleu_greedy", "bleu_beam", "chrf_greedy", "chrf_beam",
                  "tutorial", "training", "hardware", "command")
# The README's short table (the full one above is docs/results.md's).
HEADLINE_COLUMNS = ("model", "paper", "parameters", "bleu_greedy", "bleu_beam", "chrf_beam", "tutorial")
CARD_COLUMNS = ("model", "paper", "parameters", "bleu_greedy", "bleu_beam", "chrf_beam", "val_bleu", "epochs",
                "training", "hardware")
# The attention family (docs/results.md, Family tab); the report adds each member's formula.
FAMILY_COLUMNS = ("member", "parameters", "bleu_greedy", "bleu_beam", "entropy", "diagonality", "monotonicity",
                  "aer_attention", "comp_attention", "comp_ig", "comp_random", "training")
# The app's column is narrow: the scores first, beside the model's name (on a phone the table scrolls
# sideways from there); the hardware is the same for every row, so the Leaderboard says it once (``common``).
LEADERBOARD_COLUMNS = ("model", "bleu_beam", "bleu_greedy", "chrf_beam", "paper", "parameters", "size",
                       "speed_greedy", "speed_beam")
# How far each model's maps can be trusted, the Leaderboard's second table (docs/faithfulness.md has the full one).
TRUST_COLUMNS = ("model", "comp_attention", "comp_ig", "comp_random", "aer_attention", "aer_ig")
# How truthful the maps are (docs/faithfulness.md, ``tools/report --faithfulness``): one row per model and map kind.
# The kinds in the order the tables list them (each with its layers and heads after it), and what the tables add
# to a kind's name (``maps.label``).
FAITHFULNESS_KINDS = ("cross", "value_weighted", "alti", "saliency", "integrated_gradients", "input_x_gradient",
                      "occlusion", "random")
TABLE_NOTES = {"cross": " (mean)", "value_weighted": " (mean)", "occlusion": " (ceiling)", "random": " (floor)"}


def faithfulness_markdown(rows: list[ResultRow]) -> str:
    """Per model and map kind: comprehensiveness and sufficiency at k = 1, 2, 20% and AER (argmax, shifted)."""
    head = ["model", "map", "comp@1", "comp@2", "comp@20%", "suff@1", "suff@2", "suff@20%", "AER", "AER shifted"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "--:|" * (len(head) - 2)]
    fmt = lambda v: MISSING if v is None else f"{v:.3f}"  # noqa: E731
    for r in rows:
        f = r.metrics.get("faithfulness") or {}
        measured = {**((f.get("alignment") or {}).get("aer", {})), **((f.get("deletion") or {}).get("scores", {}))}
        if not measured:
            continue
        layers = lambda family: sorted((k for k in measured if re.fullmatch(rf"{family}_layer_\d+", k)),  # noqa: E731
                                       key=lambda k: int(k.rsplit("_", 1)[1]))
        order = [k for kind in FAITHFULNESS_KINDS for k in (kind, *layers(kind))]
        for kind in [k for k in order if k in measured]:
            name = map_name(kind)
            values = [faithfulness_value(r.metrics, kind, m, k) for m in ("comprehensiveness", "sufficiency")
                      for k in ("1", "2", "20%")]
            values += [faithfulness_value(r.metrics, kind, "aer"), faithfulness_value(r.metrics, kind, "aer_shifted")]
            lines.append(f"| `{r.name}` | {name} | " + " | ".join(fmt(v) for v in values) + " |")
    return "\n".join(lines)


def map_name(kind: str) -> str:
    """What a map is called in the tables: "cross-attention (mean)", "value-weighted attention, layer 2, head 6"."""
    if parse(kind)[0] not in KINDS:
        return kind
    return label(kind) + TABLE_NOTES.get(kind, "")


def best_maps_markdown(rows: list[ResultRow]) -> str:
    """Per model: the map that aligns best (lowest AER, argmax, over every kind measured, heads included) and the
    most faithful map a card can show (highest comprehensiveness at 20%; occlusion, the ceiling, and random, the
    floor, left out), and whether value weighting moved the attention's AER and comprehensiveness."""
    head = ["model", "aligns best (AER)", "most faithful (comp@20%)", "attention → value-weighted: AER",
            "comp@20%"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|--:|--:|"]
    fmt = lambda v: MISSING if v is None else f"{v:.3f}"  # noqa: E731
    for r in rows:
        f = r.metrics.get("faithfulness") or {}
        aer = (f.get("alignment") or {}).get("aer", {})
        scores = (f.get("deletion") or {}).get("scores", {})
        if not aer and not scores:
            continue
        aligned = min(aer, key=lambda k: aer[k]["argmax"], default=None)
        shown = {k: faithfulness_value(r.metrics, k, "comprehensiveness") for k in scores
                 if k not in ("occlusion", "random")}
        faithful = max((k for k in shown if shown[k] is not None), key=shown.get, default=None)
        pair = lambda metric: (f"{fmt(faithfulness_value(r.metrics, 'cross', metric))} → "  # noqa: E731
                               f"{fmt(faithfulness_value(r.metrics, 'value_weighted', metric))}"
                               if faithfulness_value(r.metrics, "value_weighted", metric) is not None else MISSING)
        lines.append(f"| `{r.name}` | " + (f"{map_name(aligned)} {fmt(aer[aligned]['argmax'])}" if aligned else MISSING)
                     + " | " + (f"{map_name(faithful)} {fmt(shown[faithful])}" if faithful else MISSING)
                     + f" | {pair('aer')} | {pair('comprehensiveness')} |")
    return "\n".join(lines)


def head_aer_markdown(rows: list[ResultRow]) -> str:
    """Per model with several attention heads a layer, the AER (argmax) of each head's cross-attention, and of its
    value-weighted version where measured: one row per layer, one column per head, and the layer's mean over heads
    last; "" when no model has them."""
    tables = []
    for r in rows:
        aer = ((r.metrics.get("faithfulness") or {}).get("alignment") or {}).get("aer", {})
        for family, title in (("cross", "AER"), ("value_weighted", "AER, value-weighted")):
            grid: dict[int, dict[int, float]] = {}
            for kind in aer:
                m = re.fullmatch(rf"{family}_layer_(\d+)_head_(\d+)", kind)
                if m:
                    grid.setdefault(int(m[1]), {})[int(m[2])] = faithfulness_value(r.metrics, kind, "aer")
            if not grid:
                continue
            heads = max(max(g) for g in grid.values())
            lines = [f"| `{r.name}` {title} | " + " | ".join(f"head {h}" for h in range(1, heads + 1))
                     + " | mean of heads |", "|---|" + "--:|" * (heads + 1)]
            for layer in sorted(grid):
                values = [grid[layer].get(h) for h in range(1, heads + 1)]
                values.append(faithfulness_value(r.metrics, f"{family}_layer_{layer}", "aer"))
                lines.append(f"| layer {layer} | " + " | ".join(MISSING if v is None else f"{v:.3f}" for v in values)
                             + " |")
            tables.append("\n".join(lines))
    return "\n\n".join(tables)


def cell(row: ResultRow, key: str, columns: dict | None = None) -> str:
    """One value as markdown shows it (``columns``: extra columns beside COLUMNS)."""
    column = {**COLUMNS, **(columns or {})}[key]
    value = column.value(row)
    return MISSING if value is None or value == MISSING else column.text(value)


def markdown(rows: list[ResultRow], keys=README_COLUMNS, columns: dict | None = None) -> str:
    """A markdown table of ``rows``; ``columns`` adds columns of the caller's beside COLUMNS."""
    known = {**COLUMNS, **(columns or {})}
    lines = ["| " + " | ".join(known[k].header for k in keys) + " |",
             "|" + "|".join(known[k].align for k in keys) + "|"]
    lines += ["| " + " | ".join(cell(r, k, columns) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def frame(rows: list[ResultRow], keys=LEADERBOARD_COLUMNS) -> dict:
    """Headers and rows of raw values (numbers stay numbers, so a data frame sorts them), best beam BLEU first
    (whichever columns are shown, so two tables of the same models list them in the same order)."""
    beam = COLUMNS["bleu_beam"].value
    rows = sorted(rows, key=lambda r: -(beam(r) if beam(r) is not None else -1))
    data = [[(str(v).strip("`") if isinstance(v, str) else v) for v in (COLUMNS[k].value(r) for k in keys)]
            for r in rows]
    return {"headers": [COLUMNS[k].header for k in keys], "data": data}


def common(rows: list[ResultRow], key: str) -> str | None:
    """The value of a column if every row has the same one (e.g. the hardware), else None."""
    values = {cell(r, key) for r in rows}
    return values.pop() if len(values) == 1 else None
