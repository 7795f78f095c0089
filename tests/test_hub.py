"""seq2seq.tools.hub up to the network boundary: the exact files each upload sends, the model card, the Space's
YAML, hf:// loading from huggingface-hub's local cache, and the messages when the Hub cannot be reached."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gradio
import pytest
import yaml

from seq2seq import ARCHITECTURES, CheckpointError, load_checkpoint
from seq2seq.papers import PAPER_ORDER
from seq2seq.tools import hub
from seq2seq.tools.hub import HubError, model_card, model_repo_files, parse_hf_spec, space_files

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = {"config.json", "model.safetensors", "src_vocab.json", "trg_vocab.json", "metrics.json"}
FAKE_TOKEN = "hf_fakeTokenThatMustNeverBePrinted"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def root_with_junk(checkpoint_root, tmp_path) -> Path:
    """A copy of the six tiny checkpoints plus what must never be uploaded."""
    root = shutil.copytree(checkpoint_root, tmp_path / "checkpoints")
    (root / "gru" / "resume").mkdir()
    (root / "gru" / "resume" / "state.safetensors").write_bytes(b"x")
    (root / "gru" / ".model.safetensors.123.tmp").write_bytes(b"x")
    (root / "gru" / "notes.txt").write_text("scratch")
    (root / "not-a-model").mkdir()
    return root


# ----------------------------------------------------------------------------------------------
# What each upload sends


def test_model_repo_files_are_exactly_the_checkpoint_files(root_with_junk):
    files = model_repo_files(root_with_junk)
    assert set(files) == {f"{arch}/{name}" for arch in ARCHITECTURES for name in CHECKPOINT}
    assert all(files[p] == root_with_junk / p for p in files)


def test_model_repo_files_of_one_model_dir(root_with_junk):
    files = model_repo_files(root_with_junk / "gru")
    assert set(files) == {f"gru/{name}" for name in CHECKPOINT}


def test_model_repo_files_refuse_empty_or_incomplete(root_with_junk, tmp_path):
    with pytest.raises(HubError, match="holds no checkpoint"):
        model_repo_files(tmp_path / "nothing")
    (root_with_junk / "lstm" / "model.safetensors").unlink()
    with pytest.raises(HubError, match="lstm is incomplete: model.safetensors missing"):
        model_repo_files(root_with_junk)


def make_project(root: Path) -> None:
    """A project tree with everything a Space needs and everything it must not get."""
    for path in ["app.py", "requirements.txt", "train.py", "seq2seq/__init__.py", "seq2seq/tools/hub.py",
                 "seq2seq/tools/report.py", "bench/browser.py",
                 "seq2seq/__pycache__/hub.cpython-311.pyc", "seq2seq/notes.md", "tests/test_hub.py",
                 ".venv/lib/site.py", "data/multi30k/train.de.gz", ".ci/run", "logs/gru.log",
                 "checkpoints/gru/resume/state.json", "checkpoints/gru/.config.json.9.tmp",
                 "checkpoints/gru/nested/config.json", "checkpoints/notes.md", "seq2seq/explorer/about.md",
                 "checkpoints/family/dot/config.json", "checkpoints/family/dot/resume/state.json",
                 *(f"checkpoints/gru/{name}" for name in CHECKPOINT),
                 "checkpoints/lstm/config.json", "checkpoints/lstm/model.safetensors"]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    shutil.copy(ROOT / "README.md", root / "README.md")


SPACE = {"app.py", "requirements.txt", "README.md", "seq2seq/__init__.py", "seq2seq/tools/hub.py",
         "seq2seq/explorer/about.md", "checkpoints/family/dot/config.json", *(f"checkpoints/gru/{name}" for name in CHECKPOINT)}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_space_files_are_the_tracked_files_the_allow_list_admits(tmp_path):
    make_project(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-f", ".")                            # track even the junk: the allow-list must drop it
    git(tmp_path, "rm", "-q", "--cached", "-r", "checkpoints/lstm")  # trained but not committed
    files = space_files(tmp_path)
    assert set(files) == SPACE
    assert hub.left_out(tmp_path, files) == ["checkpoints/lstm/config.json", "checkpoints/lstm/model.safetensors"]


def test_space_files_without_git_use_the_allow_list_on_disk(tmp_path):
    make_project(tmp_path)
    assert set(space_files(tmp_path)) == SPACE | {"checkpoints/lstm/config.json", "checkpoints/lstm/model.safetensors"}


def test_space_files_of_this_repository():
    files = space_files(ROOT)
    assert {"app.py", "requirements.txt", "README.md", "seq2seq/__init__.py", "seq2seq/checkpoint.py",
            "seq2seq/explorer/about.md", "seq2seq/explorer/page.css", "seq2seq/explorer/page_head.html"} <= set(files)
    assert "docs/screenshot.png" in files                      # the README's image shows on the Space page too
    assert all(hub.is_space_file(p) for p in files)
    assert not [p for p in files if p.startswith(("tests/", "bench/", ".", "data/", "logs/")) or "resume" in p
                or p == "train.py"]
    assert [p for p in files if p.startswith("seq2seq/tools/")] == ["seq2seq/tools/__init__.py", "seq2seq/tools/hub.py"]
    hub.space_config(files)


# ----------------------------------------------------------------------------------------------
# The Space's configuration: the YAML block at the top of README.md


def readme_front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with a YAML block"
    return yaml.safe_load(match.group(1))


def test_readme_configures_the_space():
    config = readme_front_matter()
    colours = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert {"title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file", "license",
            "short_description", "datasets"} <= config.keys()
    assert config["sdk"] == "gradio" and config["app_file"] == "app.py" and (ROOT / "app.py").is_file()
    assert config["colorFrom"] in colours and config["colorTo"] in colours
    assert len(config["short_description"]) <= 60
    assert hub.DATASET_ID in config["datasets"]


def test_space_sdk_version_is_the_gradio_pin():
    pin = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert str(readme_front_matter()["sdk_version"]) == pin == gradio.__version__


def test_space_config_rejects_a_readme_without_sdk(tmp_path):
    (tmp_path / "README.md").write_text("# no header\n")
    with pytest.raises(HubError, match="sdk: gradio"):
        hub.space_config({"README.md": tmp_path / "README.md", "app.py": tmp_path / "app.py"})


# ----------------------------------------------------------------------------------------------
# The model card


def card_parts(card: str) -> tuple[dict, str]:
    _, header, body = card.split("---\n", 2)
    return yaml.safe_load(header), body


def test_model_card_describes_every_model(checkpoint_root):
    models = hub.find_checkpoints(checkpoint_root)
    meta, body = card_parts(model_card(models, "user/name"))
    assert meta["license"] == hub.LICENSE and meta["datasets"] == [hub.DATASET_ID]
    assert meta["language"] == ["de", "en"] and meta["pipeline_tag"] == "translation"
    rows = [line for line in body.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(PAPER_ORDER)                # the order of the papers
    for row in rows:   # the fixture's metrics: greedy BLEU 1.0, beam-5 BLEU 1.5 and chrF 2.5
        assert "| 1.00 | 1.50 | 2.50 |" in row
    for arch, cls in ARCHITECTURES.items():
        assert f"`{arch}/`: " in body and cls.paper in body
    for needed in ["non-commercial research and educational use", "Elliott", "Lowercased", "caption domain",
                   'snapshot_download("user/name")', "hf://user/name/transformer", "BLEU beam 5"]:
        assert needed.lower() in body.lower(), needed
    assert "resume" not in body


def test_model_card_formats_full_training_metrics(checkpoint_root, tmp_path):
    model = shutil.copytree(checkpoint_root / "transformer", tmp_path / "transformer")
    metrics = json.loads((model / "metrics.json").read_text())
    metrics.update(paper="Vaswani et al. 2017", parameters=7478788, val_bleu=36.123, epochs_trained=25, best_epoch=21,
                   train_seconds=3725, hardware="NVIDIA H100", test={"greedy": {"bleu": 35.5, "chrf": 60.0},
                                                                    "beam5": {"bleu": 36.75, "chrf": 61.25}})
    (model / "metrics.json").write_text(json.dumps(metrics))
    _, body = card_parts(model_card([model], "user/name"))
    assert ("| `transformer` | Vaswani et al. 2017 | 7.5 | 35.50 | 36.75 | 61.25 | 36.12 | 25 (21) | 1 h 02 min "
            "| NVIDIA H100 |") in body


# ----------------------------------------------------------------------------------------------
# What push-models and deploy-space hand to huggingface-hub (its HfApi replaced at the boundary)


class FakeApi:
    """Records what would be sent; the Space already holds an old file and the Hub's .gitattributes."""

    calls: list = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def list_repo_files(self, repo_id, **kwargs):
        return [".gitattributes", "README.md", "old_app.py", "checkpoints/gone/config.json"]

    def create_commit(self, repo_id, operations, **kwargs):
        self.calls.append(("create_commit", repo_id, operations, kwargs))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{COMMIT}"})


@pytest.fixture
def fake_hub(monkeypatch, checkpoint_root, tmp_path):
    FakeApi.calls = []
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    monkeypatch.setattr(hub, "get_token", lambda: FAKE_TOKEN)

    def remote_snapshot(repo_id, allow_patterns, local_dir):   # the repo already holds an older "gru" and "lstm"
        for arch in ("gru", "lstm"):
            shutil.copytree(checkpoint_root / arch, Path(local_dir) / arch)
        metrics = json.loads((Path(local_dir) / "lstm" / "metrics.json").read_text())
        (Path(local_dir) / "lstm" / "metrics.json").write_text(json.dumps({**metrics, "hardware": "remote lstm"}))
        return str(local_dir)

    monkeypatch.setattr(hub, "snapshot_download", remote_snapshot)
    monkeypatch.setattr(hub.tempfile, "tempdir", str(tmp_path))
    return FakeApi.calls


def test_push_models_sends_exactly_the_files_and_a_card(fake_hub, root_with_junk, tmp_path):
    url = hub.push_models(root_with_junk / "gru", "user/name", private=True)
    (_, repo, create), (_, _, operations, commit) = fake_hub
    assert repo == "user/name" and create == {"private": True, "exist_ok": True}
    sent = {op.path_in_repo: op for op in operations}
    assert set(sent) == {f"gru/{name}" for name in CHECKPOINT} | {"README.md"}
    card = sent["README.md"].path_or_fileobj
    card = card.decode() if isinstance(card, bytes) else Path(card).read_text()
    rows = [line.split("`")[1] for line in card.splitlines() if line.startswith("| `")]
    assert rows == ["lstm", "gru"] and "remote lstm" in card       # the papers' order; the card covers the repo, not only this push
    assert url.endswith(COMMIT) and commit["commit_message"] == "Upload gru"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("seq2seq-card-")] == []   # temp dir removed


def test_deploy_space_mirrors_the_allow_list(fake_hub, tmp_path):
    make_project(tmp_path)
    hub.deploy_space("user/space", tmp_path)
    (_, repo, create), (_, _, operations, commit) = fake_hub
    assert create["repo_type"] == "space" and create["space_sdk"] == "gradio"
    added = {op.path_in_repo for op in operations if isinstance(op, hub.CommitOperationAdd)}
    deleted = {op.path_in_repo for op in operations if isinstance(op, hub.CommitOperationDelete)}
    assert added == SPACE | {"checkpoints/lstm/config.json", "checkpoints/lstm/model.safetensors"}
    assert deleted == {"old_app.py", "checkpoints/gone/config.json"} and commit["repo_type"] == "space"


def test_uploads_need_a_token(monkeypatch, root_with_junk):
    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(HubError, match="no Hugging Face token found: set HF_TOKEN or run `hf auth login`"):
        hub.push_models(root_with_junk, "user/name")


def test_dry_run_says_it_is_one_and_lists_each_models_files_and_what_it_leaves_out(root_with_junk, capsys):
    assert hub.main(["push-models", "--repo-id", "user/name", "--checkpoints", str(root_with_junk), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run: nothing is sent, and no network or token is used.\n")
    assert "push-models would upload these 31 files to the model repository user/name" in out
    sent = out[:out.index("Left out")]
    rows = [line.split() for line in sent.splitlines() if line.startswith("  ") and line.split()[0].endswith("/")]
    assert [r[0] for r in rows] == [f"{name}/" for name in PAPER_ORDER]                 # the order of the papers
    for row in rows:                                                                   # exactly the files that go
        assert row[1] == "5" and set(row[5:]) == CHECKPOINT, row
    assert "README.md               1 file" in out and "in all: 31 files" in out
    left = out[out.index("Left out (never uploaded)"):out.index("README.md (model card)")]
    assert "gru/resume/ (1 file)" in left and "gru/.model.safetensors.123.tmp" in left and "gru/notes.txt" in left
    assert "# Classic seq2seq translation models" in out and "`family/`" not in out


def test_a_folder_of_models_also_sends_its_attention_family_and_significance(root_with_junk, capsys):
    """What the app reads beside the models goes too, so the app on hf://... shows what it shows locally."""
    shutil.copytree(root_with_junk / "luong", root_with_junk / "family" / "dot")
    shutil.copytree(root_with_junk / "luong", root_with_junk / "family" / "general")
    (root_with_junk / "family" / "dot" / "resume").mkdir()
    (root_with_junk / "family" / "dot" / "resume" / "state.json").write_text("{}")
    (root_with_junk / "significance.json").write_text("{}")
    files = model_repo_files(root_with_junk)
    assert {p for p in files if p.startswith("family/")} == {f"family/{m}/{n}" for m in ("dot", "general") for n in CHECKPOINT}
    assert files["significance.json"] == root_with_junk / "significance.json"
    assert list(files)[-1] == "significance.json" and list(files)[-3].startswith("family/general/")   # FAMILY's order
    assert not [p for p in model_repo_files(root_with_junk / "gru") if not p.startswith("gru/")]   # one model: itself
    hub.main(["push-models", "--repo-id", "user/name", "--checkpoints", str(root_with_junk), "--dry-run"])
    out = capsys.readouterr().out
    assert "family/dot/ (1 file)" not in out and "family/dot/resume/ (1 file)" in out
    assert "`family/`: the attention family, 2 Luong models" in out and "`dot`, `general`" in out
    assert "significance.json       1 file" in out


def test_the_readme_says_what_push_models_sends():
    share = (ROOT / "README.md").read_text(encoding="utf-8").split("## Share", 1)[1].split("\n## ", 1)[0]
    for name in (*hub.CHECKPOINT_FILES, "significance.json", "family/NAME/", "resume/", "--dry-run"):
        assert f"`{name}`" in share, name


def test_space_dry_run_says_it_is_one_and_what_it_leaves_out(capsys):
    assert hub.main(["deploy-space", "--space-id", "user/space", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run: nothing is sent, and no network or token is used.\n")
    assert "deploy-space would make the Space user/space hold exactly these" in out and "remove any other" in out
    assert "  docs/results.md\n" in out and "  checkpoints/family/dot/model.safetensors\n" in out
    left = out[out.index("Left out"):]
    assert "tests/ (" in left and "train.py" in left and "docs/scaling.json" in left and "app.py" not in left


# ----------------------------------------------------------------------------------------------
# hf:// specs and loading from huggingface-hub's cache


@pytest.mark.parametrize("spec, parsed", [
    ("hf://user/name", ("user/name", None, "")),
    ("hf://user/name/", ("user/name", None, "")),
    ("hf://user/name@v1", ("user/name", "v1", "")),
    ("hf://user/name@v1/transformer", ("user/name", "v1", "transformer")),
    ("hf://user/name/transformer", ("user/name", None, "transformer")),
])
def test_parse_hf_spec(spec, parsed):
    assert parse_hf_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["hf://", "hf://user", "hf://user/", "hf://user/@v1"])
def test_parse_hf_spec_rejects(spec):
    with pytest.raises(HubError, match="hf://USER/NAME"):
        parse_hf_spec(spec)


def test_local_paths_pass_through(checkpoint_root):
    assert hub.resolve_checkpoints(str(checkpoint_root)) == checkpoint_root
    assert hub.resolve_model(checkpoint_root / "gru") == checkpoint_root / "gru"
    with pytest.raises(CheckpointError, match=r"holds 6 models \(bahdanau, .*\); name one, e.g. .*/bahdanau"):
        hub.resolve_model(checkpoint_root)


@pytest.fixture
def hf_cache(checkpoint_root, tmp_path) -> tuple[Path, Path]:
    """HF_HOME with user/name already downloaded: hub/models--user--name/{refs/main, snapshots/COMMIT/...}."""
    home = tmp_path / "hf_home"
    repo = home / "hub" / "models--user--name"
    snapshot = shutil.copytree(checkpoint_root, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return home, snapshot


def run(*args, env: dict, timeout: float = 120):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_")}, "SEQ2SEQ_THREADS": "1", **env}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    return result, time.perf_counter() - start


def test_hf_spec_loads_from_the_offline_cache(hf_cache):
    home, snapshot = hf_cache
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    result, _ = run("-m", "seq2seq.tools.hub", "download", "hf://user/name/transformer", env=env)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == snapshot / "transformer"
    assert load_checkpoint(path).arch == "transformer"


def test_evaluate_reads_hf_specs(hf_cache, data_dir):
    home, _ = hf_cache
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    result, _ = run("-m", "seq2seq.evaluate", "hf://user/name/gru", "--split", "val", "--limit", "3", "--beam", "1",
                    "--data-dir", str(data_dir), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["arch"] == "gru"


# ----------------------------------------------------------------------------------------------
# No network: one clear message, at once, no traceback, nothing left behind, token never shown


def offline_commands(root: Path) -> dict[str, list[str]]:
    return {
        "download": ["-m", "seq2seq.tools.hub", "download", "hf://user/name"],
        "evaluate": ["-m", "seq2seq.evaluate", "hf://user/name/transformer"],
        "push-models": ["-m", "seq2seq.tools.hub", "push-models", "--repo-id", "user/name", "--checkpoints", str(root)],
        "deploy-space": ["-m", "seq2seq.tools.hub", "deploy-space", "--space-id", "user/space"],
    }


@pytest.mark.parametrize("command", ["download", "evaluate", "push-models", "deploy-space"])
def test_unreachable_hub_fails_fast_with_one_message(command, root_with_junk, tmp_path):
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    env = {"HF_HOME": str(tmp_path / "empty_home"), "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": FAKE_TOKEN,
           "HF_HUB_OFFLINE": "0", "TMPDIR": str(tmp)}
    result, seconds = run(*offline_commands(root_with_junk)[command], env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and FAKE_TOKEN not in result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: could not ") and "http://127.0.0.1:9 cannot be reached" in line
    assert re.search(r"local|python app\.py", line), line
    assert seconds < 30 and list(tmp.iterdir()) == []
