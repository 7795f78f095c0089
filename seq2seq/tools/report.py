"""The README's results tables, generated from each checkpoint's ``metrics.json`` (``seq2seq.results``).

    python -m seq2seq.tools.report                          # print the six architectures' table
    python -m seq2seq.tools.report --update README.md       # rewrite it between its markers
    python -m seq2seq.tools.report --family --update README.md   # the attention family's table
    python -m seq2seq.tools.report --faithfulness --update README.md   # how truthful the maps are

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
from ..results import (FAMILY_COLUMNS, README_COLUMNS, Column, faithfulness_markdown, head_aer_markdown, markdown,
                       result_rows)

START, END = "<!-- results:start -->", "<!-- results:end -->"
FAMILY_START, FAMILY_END = "<!-- family:start -->", "<!-- family:end -->"
FAITHFULNESS_START, FAITHFULNESS_END = "<!-- faithfulness:start -->", "<!-- faithfulness:end -->"


def results_table(root="checkpoints") -> str:
    """The README's markdown table: one row per checkpoint under ``root``."""
    return markdown(result_rows(root), README_COLUMNS)


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
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} markers")
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{table}\n{end}", text, flags=re.S)
    readme.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.tools.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", help="default: checkpoints (checkpoints/family with --family)")
    parser.add_argument("--family", action="store_true", help="the attention family's table")
    parser.add_argument("--faithfulness", action="store_true", help="the maps' faithfulness and AER table")
    parser.add_argument("--data-dir", help="Multi30k, to measure map statistics (default: $SEQ2SEQ_DATA_DIR)")
    parser.add_argument("--update", metavar="README", help="rewrite the table between its markers")
    args = parser.parse_args(argv)
    if args.family:
        table = family_table(args.checkpoints or "checkpoints/family", args.data_dir)
        markers = (FAMILY_START, FAMILY_END)
    elif args.faithfulness:
        rows = result_rows(args.checkpoints or "checkpoints")
        table = "\n\n".join(t for t in (faithfulness_markdown(rows), head_aer_markdown(rows)) if t)
        markers = (FAITHFULNESS_START, FAITHFULNESS_END)
    else:
        table, markers = results_table(args.checkpoints or "checkpoints"), (START, END)
    if args.update:
        update_readme(Path(args.update), table, *markers)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
