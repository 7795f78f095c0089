"""The results tables of the README and docs/ come from the checkpoints' metrics files."""

from pathlib import Path

import pytest

from seq2seq.tools import report
from seq2seq.tools.report import END, HEADLINE_END, HEADLINE_START, START, results_table, update_readme

ROOT = Path(__file__).resolve().parents[1]


def test_results_table_has_one_row_per_checkpoint(checkpoint_root):
    table = results_table(checkpoint_root).splitlines()
    assert len(table) == 2 + 6
    transformer = next(row for row in table if row.startswith("| `transformer`"))
    cells = [c.strip() for c in transformer.strip("|").split("|")]
    assert cells[4:8] == ["1.00", "1.50", "2.00", "2.50"]  # BLEU greedy, beam, chrF greedy, beam
    assert cells[8] == "36.5"                           # the tutorial's BLEU beside ours


def test_update_rewrites_only_between_the_markers(checkpoint_root, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    update_readme(readme, results_table(checkpoint_root))
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old table" not in text
    assert sum(line.startswith("| `") for line in text.splitlines()) == 6


def test_update_writes_each_table_into_every_file_that_has_its_markers(checkpoint_root, tmp_path, capsys):
    """The full table goes to the results page, the short one to the README; --check says when either is stale."""
    page, readme = tmp_path / "results.md", tmp_path / "README.md"
    page.write_text(f"# Results\n{START}\nold\n{END}\n")
    readme.write_text(f"# Intro\n{HEADLINE_START}\nold\n{HEADLINE_END}\nmore\n")
    files = [str(page), str(readme), "--checkpoints", str(checkpoint_root)]
    assert report.main(["--check", *files]) == 1
    assert f"{page}: stale results table" in capsys.readouterr().err
    assert report.main(["--update", *files]) == 0
    assert report.main(["--check", *files]) == 0
    full, short = page.read_text(), readme.read_text()
    assert "old" not in full and "old" not in short and short.endswith("more\n")
    assert "| hardware |" in full.splitlines()[2] and "hardware" not in short   # the README's table is the short one
    assert sum(line.startswith("| `") for line in short.splitlines()) == 6
    (tmp_path / "other.md").write_text("no markers\n")
    with pytest.raises(SystemExit, match="has none of the markers"):
        report.main(["--checkpoints", str(checkpoint_root), "--update", str(tmp_path / "other.md")])


@pytest.mark.parametrize("kind, checkpoints, pages, start", [
    ([], "checkpoints", ["docs/results.md", "README.md"], START),
    ([], "checkpoints", ["README.md"], HEADLINE_START),
    (["--family"], "checkpoints/family", ["docs/results.md"], report.FAMILY_START),
    (["--faithfulness"], "checkpoints", ["docs/faithfulness.md"], report.FAITHFULNESS_START)])
def test_the_shipped_pages_hold_the_tables_the_shipped_checkpoints_make(kind, checkpoints, pages, start, tmp_path):
    """What the README and docs/ say is what ``python -m seq2seq.tools.report ... --update`` writes now; a number
    changed in a table is caught."""
    args = [*kind, "--checkpoints", str(ROOT / checkpoints), "--check"]
    assert report.main([*args, *(str(ROOT / p) for p in pages)]) == 0, "rerun: python -m seq2seq.tools.report --update"
    stale = tmp_path / "page.md"
    text = (ROOT / pages[0]).read_text(encoding="utf-8")
    table = text[text.index(start):]
    first_row = next(line for line in table.splitlines() if line.startswith("| `"))
    stale.write_text(text.replace(first_row, first_row.replace("|", "| 9", 2).replace("| 9", "|", 1), 1))
    assert report.main([*args, str(stale)]) == 1
