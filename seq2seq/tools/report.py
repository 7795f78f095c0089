"""The results table, generated from each checkpoint's ``metrics.json``.

    python -m seq2seq.tools.report                 # print the markdown table
    python -m seq2seq.tools.report --update README.md   # rewrite the table between its markers
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..results import README_COLUMNS, markdown, result_rows

START, END = "<!-- results:start -->", "<!-- results:end -->"


def results_table(root="checkpoints") -> str:
    """The README's markdown table: one row per checkpoint under ``root`` (``seq2seq.results``)."""
    return markdown(result_rows(root), README_COLUMNS)


def update_readme(readme: Path, table: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} markers")
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{table}\n{END}", text, flags=re.S)
    readme.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.tools.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--update", metavar="README", help="rewrite the table between the results markers")
    args = parser.parse_args(argv)
    table = results_table(args.checkpoints)
    if args.update:
        update_readme(Path(args.update), table)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
