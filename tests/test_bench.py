"""The benchmarks (bench/): the reference decoders agree with ours, and each report has every figure."""

from __future__ import annotations

import json

import pytest

from seq2seq import ARCHITECTURES, beam_search, greedy_search
from bench import attribution
from bench.decoding import main, reference_beam, reference_greedy

from conftest import tiny_model

SOURCES = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18, 19]]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_reference_decoders_give_our_outputs(arch):
    model = tiny_model(arch)
    assert [reference_greedy(model, s) for s in SOURCES] == [h.tokens for h in greedy_search(model, SOURCES)]
    for k in (1, 3, 5):
        assert [reference_beam(model, s, k) for s in SOURCES] == [h.tokens for h in beam_search(model, SOURCES, k)]
    assert "encode" not in vars(model)  # the encoder patch is undone


def test_benchmark_report(checkpoint_root, data_dir, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--checkpoints", str(checkpoint_root), "--data-dir", str(data_dir), "--limit", "3",
                 "--reference-limit", "2", "--latency-sentences", "2", "--app-repeats", "2", "--threads", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [m["arch"] for m in report["models"]] == list(ARCHITECTURES)
    for m in report["models"]:
        assert m["peak_rss_mb"] > 0
        for mode in ("greedy", "beam5"):
            r = m[mode]
            assert r["agreement"] == {"compared": 2, "identical": 2, "rate": 1.0, "mismatches": []}
            assert r["latency"]["ours"]["n"] == 2 and r["latency"]["ours"]["p50_s"] <= r["latency"]["ours"]["p95_s"]
            assert r["throughput"]["ours"]["sentences"] == 3 and r["throughput"]["reference"]["sentences"] == 2
            assert r["latency"]["speedup_p50"] > 0 and r["throughput"]["speedup"] > 0
    app = report["app"]
    assert app["cold_start"]["models"] == 6 and app["cold_start"]["cold_start_s"] > app["cold_start"]["load_s"] > 0
    assert app["cold_start"]["first_request_s"] > 0 and app["cold_start"]["rss_mb"] > 0 and app["request"]["n"] == 2
    assert len(report["targets"]) == 6 and all({"target", "measured", "met"} <= t.keys() for t in report["targets"])
    assert "| transformer | beam5 |" in capsys.readouterr().out


def test_attribution_benchmark_report(checkpoint_root, data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQ2SEQ_DATA_DIR", str(data_dir))
    out = tmp_path / "attribution.json"
    attribution.main(["--checkpoints", str(checkpoint_root), "--archs", "lstm", "transformer", "--sentences", "2",
                      "--words", "6", "--n-steps", "2", "--workers", "2", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["sentences"] == 2 and report["n_steps"] == 2 and list(report["models"]) == ["lstm", "transformer"]
    for m in [*report["models"].values(), report["total"]]:
        assert 0 < m["p50"] <= m["p95"] and m["cpu_p50"] > 0
    assert report["together"]["workers"] == 2 and report["together"]["p50"] > 0
    assert "transformer" in capsys.readouterr().out
