"""The results tables of the README and docs/, generated from each checkpoint's ``metrics.json`` (``seq2seq.results``).

    python -m seq2seq.tools.report                          # print the models' table
    python -m seq2seq.tools.report --update                 # rewrite it in docs/results.md, and README.md's short one
    python -m seq2seq.tools.report --family --update        # the attention family's table (docs/results.md)
    python -m seq2seq.tools.report --faithfulness --update  # how truthful the maps are (docs/faithfulness.md)
    python -m seq2seq.tools.report --check                  # exit 1 if a table in those files is not what it would be

``--update FILE ...`` rewrites the tables whose markers (``<!-- results:start -->`` ... ``<!-- results:end -->``
and the like) each named file holds; a file holding none of them is an error.

The family table adds each member's score formula and the statistics of its maps over the whole
test_2016_flickr (mean over sentences of the greedy translation's cross-attention statistics);
a member whose metrics.json lacks them is measured first (``map_statistics`` is written there).
The faithfulness table reads what ``python -m seq2seq.analysis.faithfulness CHECKPOINT --save`` wrote
into each checkpoint's metrics.json (it takes minutes per model, so it is never run from here).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..checkpoint import read_metrics, write_json
from ..results import (FAMILY_COLUMNS, best_maps_markdown, HEADLINE_COLUMNS, README_COLUMNS, Column, faithfulness_markdown, head_aer_markdown, markdown,
                       result_rows)

START, END = "<!-- results:start -->", "<!-- results:end -->"
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"
FAMILY_START, FAMILY_END = "<!-- family:start -->", "<!-- family:end -->"
FAITHFULNESS_START, FAITHFULNESS_END = "<!-- faithfulness:start -->", "<!-- faithfulness:end -->"


def results_table(root="checkpoints") -> str:
    """The results page's markdown table: one row per checkpoint under ``root``."""
    return markdown(result_rows(root), README_COLUMNS)


def headline_table(root="checkpoints") -> str:
    """The README's short table: each model, its paper, size and test scores."""
    return markdown(result_rows(root), HEADLINE_COLUMNS)


def measure_map_statistics(path: Path, data_dir=None, split: str = "test_2016_flickr") -> dict:
    """Mean map statistics of the checkpoint at ``path`` over ``split``, stored in its metrics.json."""
    from ..analysis.inspection import corpus_map_statistics
    from ..data import load_split
    from ..translator import load_checkpoint

    translator = load_checkpoint(path)
    data = load_split(split, translator.config["src_lang"], translator.config["trg_lang"], data_dir)
    stats = {"split": split, **corpus_map_statistics(translator, data.src_text)}
    metrics = read_metrics(path)
    write_json(path / "metrics.json", {**metrics, "map_statistics": stats})
    return stats


def family_table(root="checkpoints/family", data_dir=None, measure: bool = True) -> str:
    """The attention family's markdown table, members in the order of FAMILY."""
    from ..explorer.family import MEMBERS
    from ..models.luong import FAMILY

    rows = result_rows(root)
    if measure:
        for r in rows:
            if r.metrics and "map_statistics" not in r.metrics:
                print(f"measuring the maps of {r.name} on test_2016_flickr ...", file=sys.stderr)
                r.metrics["map_statistics"] = measure_map_statistics(r.path, data_dir)
    order = list(FAMILY)
    rows.sort(key=lambda r: order.index(r.name) if r.name in order else len(order))
    formula = Column("score", lambda r: f"${MEMBERS[r.name].formula}$" if r.name in MEMBERS else None, str, "---")
    return markdown(rows, (FAMILY_COLUMNS[0], "formula", *FAMILY_COLUMNS[1:]), {"formula": formula})


def update_readme(readme: Path, table: str, start: str = START, end: str = END) -> None:
    """Rewrite the table between ``start`` and ``end`` in ``readme`` (a README or a docs page)."""
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} markers")
    readme.write_text(replace_table(text, table, start, end), encoding="utf-8")


def replace_table(text: str, table: str, start: str, end: str) -> str:
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{table}\n{end}", text, flags=re.S)


# Where ``--update`` and ``--check`` write and read each kind of table by default.
PAGES = {"results": ("docs/results.md", "README.md"), "family": ("docs/results.md",),
         "faithfulness": ("docs/faithfulness.md",)}


def tables(kind: str, checkpoints: str | None, data_dir=None, measure: bool = True) -> list[tuple[str, str, str]]:
    """(table, start marker, end marker) for each table of one kind."""
    if kind == "family":
        return [(family_table(checkpoints or "checkpoints/family", data_dir, measure), FAMILY_START, FAMILY_END)]
    if kind == "faithfulness":
        rows = result_rows(checkpoints or "checkpoints")
        table = "\n\n".join(t for t in (best_maps_markdown(rows), faithfulness_markdown(rows), head_aer_markdown(rows))
                              if t)
        return [(table, FAITHFULNESS_START, FAITHFULNESS_END)]
    root = checkpoints or "checkpoints"
    return [(results_table(root), START, END), (headline_table(root), HEADLINE_START, HEADLINE_END)]


def update(files, made: list[tuple[str, str, str]], check: bool = False) -> list[str]:
    """Rewrite (or, with ``check``, compare) every table of ``made`` whose markers each file holds; the files
    whose tables differ from ``made`` (were stale)."""
    stale = []
    for file in map(Path, files):
        text = file.read_text(encoding="utf-8")
        found = [(t, a, b) for t, a, b in made if a in text and b in text]
        if not found:
            raise SystemExit(f"{file} has none of the markers " + ", ".join(f"{a} ... {b}" for _, a, b in made))
        new = text
        for table, start, end in found:
            new = replace_table(new, table, start, end)
        if new != text:
            stale.append(str(file))
            if not check:
                file.write_text(new, encoding="utf-8")
    return stale


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.tools.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", help="default: checkpoints (checkpoints/family with --family)")
    parser.add_argument("--family", action="store_true", help="the attention family's table")
    parser.add_argument("--faithfulness", action="store_true", help="the maps' faithfulness and AER table")
    parser.add_argument("--data-dir", help="Multi30k, to measure map statistics (default: $SEQ2SEQ_DATA_DIR)")
    parser.add_argument("--update", metavar="FILE", nargs="*",
                        help="rewrite the tables between their markers in these files (default: where they live: "
                             "docs/results.md and README.md; docs/faithfulness.md with --faithfulness)")
    parser.add_argument("--check", metavar="FILE", nargs="*",
                        help="exit 1, naming them, if the tables in these files (default as --update) are stale; "
                             "never measures (a family member without map statistics shows them as missing)")
    args = parser.parse_args(argv)
    kind = "family" if args.family else "faithfulness" if args.faithfulness else "results"
    if args.check is not None:
        stale = update(args.check or PAGES[kind], tables(kind, args.checkpoints, args.data_dir, measure=False),
                       check=True)
        for file in stale:
            print(f"{file}: stale {kind} table; rewrite it with python -m seq2seq.tools.report"
                  + {"results": "", "family": " --family", "faithfulness": " --faithfulness"}[kind] + " --update",
                  file=sys.stderr)
        return 1 if stale else 0
    made = tables(kind, args.checkpoints, args.data_dir)
    if args.update is not None:
        for file in update(args.update or PAGES[kind], made):
            print(f"rewrote the {kind} table in {file}", file=sys.stderr)
    else:
        print("\n\n".join(t for t, *_ in made[:1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
