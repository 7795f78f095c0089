"""What a translation card draws: its map for one choice of kind, layer and head, titled, and the small
multiples of every layer and head; and a probe sentence's map after each epoch. The maps are the service's
(``service.result_view``); this module only names and draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..analysis import inspection
from ..analysis.attribution import N_STEPS
from ..analysis.maps import View, label
from ..analysis.probes import PROBE_SENTENCES
from ..checkpoint import CheckpointError
from .figures import WORDS_NOTE, epochs_figure, heatmap, message_figure, overview
from .service import MEAN, ModelSet, Result, result_view

OVERVIEW_MAX_CELLS = 2500    # larger maps get no small multiples (they would be unreadable and slow)


@dataclass
class CardFigures:
    """What a card shows for one choice of map, layer and head (clamped to what exists)."""

    view: View
    layer: int               # MEAN or a layer index
    head: int                # MEAN or a head index
    title: str               # e.g. "cross-attention · layer 3 of 3 · mean of the heads"
    plot: object             # the heatmap (a Plotly figure)
    overview: str | None     # what the small multiples would show (``card_overview`` draws them), or None
    shown: torch.Tensor      # [rows, columns] the map drawn


def map_title(kind: str, v: View, layer: int | None, head: int | None, has_attention: bool, words: bool) -> str:
    """e.g. "cross-attention · layer 3 of 3 · mean of the heads"; "no attention, so gradient × input saliency"."""
    if v.layers > 1 and v.heads > 1 and layer is None and head is None:
        where = ["mean of the layers and heads"]
    else:
        where = [("mean of the layers" if layer is None else f"layer {layer + 1} of {v.layers}")] if v.layers > 1 else []
        where += [("mean of the heads" if head is None else f"head {head + 1} of {v.heads}")] if v.heads > 1 else []
    what = label(kind)
    if kind == "saliency" and not has_attention:
        what = f"no attention, so {what}"
    if kind == "integrated_gradients":
        what = f"{what} ({N_STEPS} steps from a zero baseline)"
    return " · ".join([what, *where, *([WORDS_NOTE] if words else [])])


def card_figures(models: ModelSet, result: Result, kind: str, layer: int | None, head: int | None,
                 units: str = "pieces") -> CardFigures:
    """The default everywhere (None or MEAN, or a layer or head that does not exist) is the mean over all
    layers and heads, the map the Inspect and Compare tabs show; the title names the choice. ``units``:
    a subword model's map over its pieces, as it reads them, or merged into words. MapTooLong when the
    translation is too long for this kind of map."""
    translator = models.translators[result.name]
    v = result_view(models, result, kind, units)
    words = units == "words" and translator.subword
    layer = None if layer is None or layer == MEAN or not 0 <= layer < v.layers else layer
    head = None if head is None or head == MEAN or not 0 <= head < v.heads else head
    title = map_title(kind, v, layer, head, translator.has_attention, words)
    return CardFigures(v, MEAN if layer is None else layer, MEAN if head is None else head, title,
                       heatmap(v, layer, head, f"{result.name}: {title}"), overview_label(v), v.select(layer, head))


def overview_label(v: View) -> str | None:
    """What the card's small multiples show ("every layer × head"), or None when there is one map only or the
    maps are too big to draw small."""
    return grid_label(v.layers, v.heads, len(v.rows) * len(v.columns))


def grid_label(layers: int, heads: int, cells: int = 0) -> str | None:
    """``overview_label`` of a map of ``cells`` cells in a grid of ``layers`` × ``heads``."""
    if layers * heads <= 1 or cells > OVERVIEW_MAX_CELLS:
        return None
    if heads == 1:
        return f"every layer ({layers}, one head each)"
    return f"every layer × head ({layers} × {heads})" if layers > 1 else f"every head ({heads})"


def card_overview(models: ModelSet, result: Result, kind: str):
    """The small multiples of a card's map, drawn only when a person opens them (they are the page's heaviest
    figures: the Transformer's has 24 panels); None when the map has none."""
    v = result_view(models, result, kind)
    what = overview_label(v)
    return None if what is None else overview(v, f"{result.name}: {label(kind)}, {what}")


def probe_figure(models: ModelSet, name: str, probe: int):
    """One probe sentence's cross-attention after each epoch (the checkpoint's probes.json), or a figure saying
    why not."""
    translator = models.translators.get(name)
    if translator is None:
        return None
    try:
        log = inspection.probes(translator)
    except CheckpointError as e:
        return message_figure(f"probes.json could not be read: {e}")
    if log is None:
        return message_figure(f"{name} has no probes.json (it was trained before probes were recorded).")
    sentences = log.get("sentences", PROBE_SENTENCES)
    return epochs_figure(log, probe, f"{name}: {sentences[probe] if probe < len(sentences) else ''}")
