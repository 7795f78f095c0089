"""The README's results table comes from the checkpoints' metrics files."""

from seq2seq.tools.report import END, START, results_table, update_readme


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
