"""Share the models and the app on the Hugging Face Hub, and load models from it.

    python -m seq2seq.tools.hub push-models --repo-id USER/NAME [--checkpoints DIR] [--private] [--dry-run]
    python -m seq2seq.tools.hub deploy-space --space-id USER/NAME [--private] [--dry-run]
    python -m seq2seq.tools.hub download hf://USER/NAME[@REVISION][/MODEL]

push-models  uploads each checkpoint directory under DIR (default checkpoints/; or DIR itself when it
             is one model) to the model repository as MODEL/..., with a generated model card (README.md)
             covering every model in the repository: per model config.json, model.safetensors,
             src_vocab.json, trg_vocab.json, metrics.json, and where present probes.json, test_outputs.json
             and a subword model's src_spm.model and trg_spm.model. From a folder of models it also sends
             what the app reads beside them: the attention family (DIR/family/NAME -> family/NAME/...) and
             the pairwise tests (DIR/significance.json). Never resume/ (training state), temporary files
             or anything else.
deploy-space creates or updates a Gradio Space holding exactly what the app needs: app.py,
             requirements.txt, README.md (whose YAML header configures the Space) and the docs/ pages and
             images it links, seq2seq/*.py (but of seq2seq/tools/, only hub.py) and the page's assets,
             checkpoints/*/ and checkpoints/family/*/ -- the git-tracked files among those. Other files on
             the Space are removed; the tests and the benchmarks (bench/) never go.
download     fetches hf://USER/NAME into huggingface-hub's cache (HF_HOME) and prints the local path;
             ``app.py --checkpoints hf://...`` and ``seq2seq.evaluate hf://.../MODEL`` do the same.

The token comes from huggingface-hub's usual places (HF_TOKEN, or a saved ``hf auth login``) and is
never printed. With no network every command stops at once with one message; --dry-run says what would
be sent, file by file, and what is left out, without any network or token.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard, ModelCardData, constants
from huggingface_hub import get_token, metadata_load, snapshot_download
from huggingface_hub.errors import (HfHubHTTPError, HFValidationError, LocalEntryNotFoundError,
                                    RepositoryNotFoundError, RevisionNotFoundError)

from ..checkpoint import FILES, TOKENIZER_FILES, CheckpointError, find_checkpoints, read_json
from ..results import CARD_COLUMNS, markdown, result_rows
from ..models import ARCHITECTURES
from ..papers import paper_rank

HF_SCHEME = "hf://"
CHECKPOINT_FILES = (*FILES, *TOKENIZER_FILES, "metrics.json", "probes.json", "test_outputs.json")  # what a model directory ships; never resume/
SPACE_CHECKPOINT_FILES = ("checkpoints/significance.json",)   # the models' pairwise tests (python -m seq2seq.compare)
SPACE_TOP_FILES = ("app.py", "requirements.txt", "README.md")
# Of the package's commands (seq2seq/tools/) the Space gets only hub.py: the app reads hf://... checkpoints through it.
SPACE_TOOLS = ("seq2seq/tools/__init__.py", "seq2seq/tools/hub.py")
SIGNIFICANCE = "significance.json"                 # beside the models: their pairwise tests (python -m seq2seq.compare)
SPACE_KEEP = {".gitattributes"}                    # the Hub's own file on every repository
DATASET_ID = "bentrevett/multi30k"                 # Multi30k task 1 on the Hub (en-de)
LICENSE = "cc-by-nc-4.0"                           # the models inherit Multi30k's non-commercial terms
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class HubError(CheckpointError):
    """The Hub could not provide or accept the checkpoints (network, login, missing repository)."""


# ----------------------------------------------------------------------------------------------
# What each upload sends: pure functions of the local files, no network


def model_files(model: Path, prefix: str) -> dict[str, Path]:
    """{PREFIX/FILE: local file} for the files of one checkpoint that travel; an error when one it needs is missing.
    A Hugging Face model saved with save_pretrained among the checkpoints travels whole (model, tokenizer, metrics)."""
    from ..models.huggingface import is_huggingface_dir

    if is_huggingface_dir(model):
        return {f"{prefix}/{f.name}": f for f in sorted(model.iterdir()) if f.is_file() and not f.name.startswith(".")}
    subword = read_json(model / "config.json").get("tokenizer", {}).get("type") == "sentencepiece"
    missing = [f for f in (*FILES, *(TOKENIZER_FILES if subword else ())) if not (model / f).is_file()]
    if missing:
        raise HubError(f"{model} is incomplete: {', '.join(missing)} missing")
    return {f"{prefix}/{f}": model / f for f in CHECKPOINT_FILES if (model / f).is_file()}


def family_members(checkpoints) -> list[Path]:
    """The attention family beside a folder of models (DIR/family/NAME), in the order of FAMILY."""
    from ..models.luong import FAMILY

    root = Path(checkpoints)
    if (root / "config.json").is_file() or not (root / "family").is_dir():
        return []
    order = list(FAMILY)
    return sorted(find_checkpoints(root / "family"),
                  key=lambda m: (order.index(m.name) if m.name in order else len(order), m.name))


def model_repo_files(checkpoints) -> dict[str, Path]:
    """{path in the model repo: local file} for every model under ``checkpoints`` (or that one model), in the
    order of their papers; from a folder of models also its attention family and its significance.json."""
    models = find_checkpoints(checkpoints)
    if not models:
        raise HubError(f"{checkpoints} holds no checkpoint (a directory with config.json, or a folder of them)")
    files = {}
    for model in sorted(models, key=model_order):
        files.update(model_files(model, model.resolve().name))
    for member in family_members(checkpoints):
        files.update(model_files(member, f"family/{member.name}"))
    if not (Path(checkpoints) / "config.json").is_file() and (Path(checkpoints) / SIGNIFICANCE).is_file():
        files[SIGNIFICANCE] = Path(checkpoints) / SIGNIFICANCE
    return files


def model_repo_left_out(checkpoints, files: dict[str, Path]) -> list[str]:
    """What push-models leaves behind in ``checkpoints``: every other file, a folder of them as "FOLDER/ (N files)"."""
    root = Path(checkpoints)
    base = root.parent if (root / "config.json").is_file() else root
    models = [*find_checkpoints(root), *family_members(root)]
    sent = {f.resolve() for f in files.values()}
    out, folders = [], {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []:
        if path.resolve() in sent or "__pycache__" in path.parts:
            continue
        anchor = next((m for m in models if m in path.parents), root)   # the model it lies in, or the folder
        inner = path.relative_to(anchor).parts
        if len(inner) > 1:                      # inside a folder (a model's resume/, a folder that is no model)
            folder = (anchor / inner[0]).relative_to(base).as_posix() + "/"
            folders[folder] = folders.get(folder, 0) + 1
        else:
            out.append(path.relative_to(base).as_posix())
    out += [f"{folder} ({n} file{'s' if n > 1 else ''})" for folder, n in folders.items()]
    return sorted(out)


def is_space_file(path: str) -> bool:
    """The allow-list of the Space: app.py, requirements.txt, README.md and the docs/ pages and images it links, the
package (code and the page's assets), the checkpoints and the attention family's (checkpoints/family/NAME)."""
    parts = PurePosixPath(path).parts
    if path in SPACE_TOP_FILES or path in SPACE_CHECKPOINT_FILES:
        return True
    if parts[0] == "docs":      # the pages and images the README links (the Space shows the README)
        return len(parts) == 2 and path.endswith((".md", ".png"))
    if parts[0] == "seq2seq":   # the package: its code, and the page's text, style and script (seq2seq/explorer)
        if parts[1:2] == ("tools",) and path not in SPACE_TOOLS:    # commands the Space never runs
            return False
        assets = parts[:2] == ("seq2seq", "explorer") and path.endswith((".md", ".css", ".html"))
        return (path.endswith(".py") or assets) and "__pycache__" not in parts
    # checkpoints/NAME/FILE, and the attention family's checkpoints/family/NAME/FILE
    if parts[0] != "checkpoints" or parts[-1] not in CHECKPOINT_FILES:
        return False
    return len(parts) == 3 or (len(parts) == 4 and parts[1] == "family")


def git_tracked(root: Path) -> list[str] | None:
    """Files git tracks under ``root`` (relative paths), or None when ``root`` is not a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [p for p in out.decode().split("\0") if p]


def candidate_files(root: Path) -> list[str]:
    """Without git: every file the allow-list could match, found on disk."""
    paths = [p for p in (*SPACE_TOP_FILES, *SPACE_CHECKPOINT_FILES) if (root / p).is_file()]
    paths += [p.relative_to(root).as_posix() for p in sorted(root.glob("docs/*")) if p.is_file()]
    paths += [p.relative_to(root).as_posix() for p in sorted(root.glob("seq2seq/**/*")) if p.is_file()]
    paths += [p.relative_to(root).as_posix() for p in sorted([*root.glob("checkpoints/*/*"), *root.glob("checkpoints/family/*/*")])]
    return paths


def space_files(root=PROJECT_ROOT) -> dict[str, Path]:
    """{path on the Space: local file}: the git-tracked files (all files, outside git) the allow-list admits."""
    root = Path(root)
    tracked = git_tracked(root)
    paths = candidate_files(root) if tracked is None else tracked
    return {p: root / p for p in sorted(paths) if is_space_file(p) and (root / p).is_file()}


def space_left_out(root, files: dict[str, Path]) -> list[str] | None:
    """The git-tracked files the Space does not get: a top-level folder none of whose files go as "FOLDER/ (N
    files)", else each file; None outside git."""
    tracked = git_tracked(Path(root))
    if tracked is None:
        return None
    rest = [p for p in tracked if p not in files]
    sending = {PurePosixPath(p).parts[0] for p in files if "/" in p}
    out, folders = [], {}
    for p in rest:
        top = PurePosixPath(p).parts[0]
        if "/" in p and top not in sending:
            folders[top] = folders.get(top, 0) + 1
        else:
            out.append(p)
    return sorted(out + [f"{top}/ ({n} file{'s' if n > 1 else ''})" for top, n in folders.items()])


def left_out(root, files: dict[str, Path]) -> list[str]:
    """Files the allow-list admits that the Space would not get because git does not track them."""
    return [p for p in candidate_files(Path(root)) if is_space_file(p) and p not in files]


def space_config(files: dict[str, Path]) -> dict:
    """The Space's YAML header, read from the README that would be sent; checked for what a Space needs."""
    if "README.md" not in files:
        raise HubError("the Space needs README.md (its YAML header configures the Space); it is not in the upload")
    config = metadata_load(files["README.md"]) or {}
    if config.get("sdk") != "gradio":
        raise HubError("README.md must start with a YAML header holding `sdk: gradio` (see the Share section)")
    app_file = config.get("app_file", "app.py")
    if app_file not in files:
        raise HubError(f"the Space runs {app_file}, which is not in the upload")
    return config


# ----------------------------------------------------------------------------------------------
# The model card


def describe(arch: str) -> str:
    """First paragraph of the architecture's module docstring, e.g. 'Transformer (Vaswani et al. 2017, ...).'"""
    doc = inspect.getmodule(ARCHITECTURES[arch]).__doc__ if arch in ARCHITECTURES else None
    return " ".join((doc or arch).strip().split("\n\n")[0].split())


def results_table(models: list[Path]) -> str:
    """The model card's markdown table of every model's metrics.json (``seq2seq.results``)."""
    return markdown(result_rows(models), CARD_COLUMNS)


CITATION = """\
@inproceedings{elliott-etal-2016-multi30k,
  title     = {Multi30K: Multilingual English-German Image Descriptions},
  author    = {Elliott, Desmond and Frank, Stella and Sima'an, Khalil and Specia, Lucia},
  booktitle = {Proceedings of the 5th Workshop on Vision and Language},
  pages     = {70--74},
  year      = {2016},
}"""


def model_card(models: list[Path], repo_id: str, family: list[str] = ()) -> str:
    """The repository's README.md: what each model is, results, how to load, data terms, limitations; ``family``:
    the attention family's members in the repository (family/NAME)."""
    models = sorted(models, key=model_order)                 # the order of the papers
    configs = [read_json(m / "config.json") for m in models]
    languages = sorted({c.get(side) for c in configs for side in ("src_lang", "trg_lang")} - {None})
    pairs = sorted({f"{c.get('src_lang')}→{c.get('trg_lang')}" for c in configs})
    data = ModelCardData(language=languages, license=LICENSE, library_name="pytorch", datasets=[DATASET_ID],
                         metrics=["bleu", "chrf"], pipeline_tag="translation",
                         tags=["translation", "seq2seq", "attention", "safetensors", *sorted({c["arch"] for c in configs})])
    first = next((m.name for m in models if m.name == "transformer"), models[0].name)   # the example's model
    body = f"""
# Classic seq2seq translation models on Multi30k ({", ".join(pairs)})

Classic neural machine translation architectures, one checkpoint per folder, each trained from scratch on
Multi30k by the seq2seq attention explorer project (its `seq2seq` package loads them). They are small enough to
run on a CPU, and every one exposes its attention, so they can be compared side by side.

{chr(10).join(f"- `{m.name}/`: {describe(c['arch'])}" for m, c in zip(models, configs))}
{family_line(family)}
## Results

Scored on Multi30k `test_2016_flickr` (1,000 sentences): sacreBLEU corpus BLEU with `tokenize="none"` over
lowercased spaCy tokens (the metric of the well-known PyTorch seq2seq tutorials) and chrF. Validation BLEU is
greedy, on the `val` split, at the kept epoch.

{results_table(models)}

## How to use

Each folder is one checkpoint: `config.json` (architecture and sizes), `model.safetensors` (int8 weight rows,
float16 small tensors), `src_vocab.json`, `trg_vocab.json` and `metrics.json` (scores, training time, hardware,
the exact command).
Nothing is pickled. Load one with the project's `seq2seq` package:

```python
from huggingface_hub import snapshot_download
from seq2seq import load_checkpoint

root = snapshot_download("{repo_id}")
translator = load_checkpoint(f"{{root}}/{first}")
[t] = translator.translate(["Zwei Hunde spielen im Schnee."], beam_size=5)
print(t.text, t.attention["cross"].shape)
```

or from the command line:

```bash
python app.py --checkpoints hf://{repo_id}    # the side-by-side demo with every model
python -m seq2seq.evaluate hf://{repo_id}/{first} --beam 5    # re-score one model
```

## Training data and its terms

[Multi30k](https://github.com/multi30k/dataset) task 1 (Elliott et al. 2016): 29,000 training, 1,014 validation
and 1,000 test image captions from Flickr30k, each with a German translation. Multi30k is released for
**non-commercial research and educational use only**; these models are derived from it and carry the same
terms (hence {LICENSE}). If you use them, cite the dataset:

```bibtex
{CITATION}
```

## Limitations

- Lowercased input and output: the models see and write lowercased spaCy tokens only.
- Image-caption domain: short descriptive sentences about people, animals and scenes. News, dialogue, long or
  technical sentences fall outside what they learned and translate poorly.
- Word-level vocabularies built from the training split: rare and unseen words become `<unk>`
  (the translator copies the source word it attends to most in their place).
- Small models trained on 29,000 sentences: useful to compare architectures and study attention, not as a
  production translator.
"""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def family_line(family) -> str:
    if not family:
        return ""
    return (f"- `family/`: the attention family, {len(family)} Luong models of one size trained by one recipe, which "
            f"differ only in their attention score: {', '.join(f'`{n}`' for n in family)} (the app's Family tab)\n")


def model_order(model: Path):
    """The model card lists the models in the order of their papers, as the app and the README do."""
    try:
        arch = read_json(model / "config.json").get("arch")
    except (CheckpointError, OSError, ValueError):
        arch = None
    return paper_rank(model.name, arch)


# ----------------------------------------------------------------------------------------------
# The network boundary


def network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning 'the Hub could not be reached', whichever HTTP client huggingface-hub uses."""
    found: list[type[BaseException]] = [HfHubHTTPError, LocalEntryNotFoundError, ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "RequestException")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def first_line(e: BaseException) -> str:
    cause = e.__cause__ if isinstance(e, LocalEntryNotFoundError) and e.__cause__ else e
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


@contextmanager
def hub_errors(action: str, instead: str):
    """Turn whatever the Hub raises into one HubError saying what was tried and what to do instead."""
    try:
        yield
    except HFValidationError as e:
        raise HubError(f"could not {action}: {first_line(e)}") from e
    except RepositoryNotFoundError as e:
        raise HubError(f"could not {action}: the repository does not exist, or it is private and no token with access "
                       "was found (set HF_TOKEN or run `hf auth login`)") from e
    except RevisionNotFoundError as e:
        raise HubError(f"could not {action}: no such revision ({first_line(e)})") from e
    except network_errors() as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(f"could not {action}: the Hub refused the token (HTTP {status}); it needs write access "
                           "(set HF_TOKEN or run `hf auth login`)") from e
        if constants.HF_HUB_OFFLINE:
            why = "HF_HUB_OFFLINE is set and it is not in the local cache"
        else:
            why = f"the Hugging Face Hub at {constants.ENDPOINT} cannot be reached ({first_line(e)})"
        raise HubError(f"could not {action}: {why}. {instead}") from e


def require_token() -> None:
    """Uploads need a token (HF_TOKEN or a saved login); only its presence is checked here."""
    if constants.HF_HUB_OFFLINE:
        raise HubError("HF_HUB_OFFLINE is set, so nothing can be uploaded: unset it and try again")
    if get_token() is None:
        raise HubError("no Hugging Face token found: set HF_TOKEN or run `hf auth login` (uploads need write access)")


def parse_hf_spec(spec: str) -> tuple[str, str | None, str]:
    """``hf://USER/NAME[@REVISION][/MODEL]`` -> (repo_id, revision or None, subfolder or '')."""
    parts = spec[len(HF_SCHEME):].strip("/").split("/")
    if len(parts) < 2 or not parts[0] or not parts[1].partition("@")[0]:
        raise HubError(f"{spec!r} is not hf://USER/NAME[@REVISION][/MODEL]")
    name, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{name}", revision or None, "/".join(parts[2:])


def resolve_checkpoints(spec) -> Path:
    """A local path as is; ``hf://USER/NAME[@REVISION][/MODEL]`` downloaded through huggingface-hub's cache
    (and found there with no network when HF_HUB_OFFLINE=1). Returns a model directory or a folder of them."""
    if not str(spec).startswith(HF_SCHEME):
        return Path(spec)
    repo_id, revision, subdir = parse_hf_spec(spec)
    later = "unset HF_HUB_OFFLINE to download it" if constants.HF_HUB_OFFLINE else \
        "download it once with network, then HF_HUB_OFFLINE=1 reads it from the cache"
    with hub_errors(f"download {spec}", f"Pass a local checkpoint directory instead (e.g. checkpoints/), or {later}."):
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=[f"{subdir}/*"] if subdir else None))
    path = folder / subdir
    if not find_checkpoints(path):
        raise HubError(f"{spec} holds no checkpoint (no config.json in {path})")
    return path


def resolve_model(spec) -> Path:
    """Like resolve_checkpoints, for exactly one model: a folder of several must be narrowed (hf://USER/NAME/MODEL)."""
    path = resolve_checkpoints(spec)
    found = find_checkpoints(path)
    if len(found) > 1:
        names = ", ".join(d.name for d in found)
        raise CheckpointError(f"{spec} holds {len(found)} models ({names}); name one, e.g. {str(spec).rstrip('/')}/{found[0].name}")
    return found[0] if found else path


def remote_models(repo_id: str, into: Path) -> list[Path]:
    """The models already in the repository, as folders of config.json and metrics.json (for the card)."""
    snapshot_download(repo_id, allow_patterns=["*/config.json", "*/metrics.json"], local_dir=into)
    return find_checkpoints(into)


def push_models(checkpoints, repo_id: str, private: bool = False) -> str:
    """Upload the model(s) under ``checkpoints`` to ``repo_id`` with a regenerated model card; returns the commit URL."""
    files = model_repo_files(checkpoints)
    local = find_checkpoints(checkpoints)
    require_token()
    api = HfApi()
    with hub_errors(f"upload to model repository {repo_id}", f"The checkpoints stay in {checkpoints}; "
                                                             "use that local directory (e.g. app.py --checkpoints)."):
        api.create_repo(repo_id, private=private, exist_ok=True)
        family = [m.name for m in family_members(checkpoints)]
        with tempfile.TemporaryDirectory(prefix="seq2seq-card-") as tmp:
            names = {m.resolve().name for m in local}
            models = [m for m in remote_models(repo_id, Path(tmp)) if m.name not in names] + local
            remote_family = [m.name for m in find_checkpoints(Path(tmp) / "family")] if (Path(tmp) / "family").is_dir() else []
            card = model_card(sorted(models, key=model_order), repo_id, family + sorted(set(remote_family) - set(family)))
        operations = [CommitOperationAdd(path, str(file)) for path, file in files.items()]
        operations.append(CommitOperationAdd("README.md", card.encode()))
        message = f"Upload {', '.join(sorted(names))}" + (" and the attention family" if family else "")
        info = api.create_commit(repo_id, operations, commit_message=message)
    return info.commit_url


def deploy_space(space_id: str, root=PROJECT_ROOT, private: bool = False) -> str:
    """Create or update the Gradio Space so it holds exactly ``space_files(root)``; returns the commit URL."""
    files = space_files(root)
    space_config(files)
    require_token()
    api = HfApi()
    with hub_errors(f"deploy Space {space_id}", "Run the app locally instead: python app.py"):
        api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        stale = set(api.list_repo_files(space_id, repo_type="space")) - files.keys() - SPACE_KEEP
        operations = [CommitOperationAdd(path, str(file)) for path, file in files.items()]
        operations += [CommitOperationDelete(path) for path in sorted(stale)]
        info = api.create_commit(space_id, operations, repo_type="space", commit_message="Deploy the app")
    return info.commit_url


# ----------------------------------------------------------------------------------------------
# Command line


def print_files(files: dict[str, Path]) -> None:
    for path, file in files.items():
        print(f"  {file.stat().st_size / 1e6:9.2f} MB  {path}")
    print(f"  {sum(f.stat().st_size for f in files.values()) / 1e6:9.2f} MB  in all, {len(files)} files")


DRY_RUN = "Dry run: nothing is sent, and no network or token is used."


def dry_run_models(checkpoints, repo_id: str) -> None:
    """What push-models would send, model by model, and what it leaves out; then the model card."""
    files = model_repo_files(checkpoints)
    print(DRY_RUN)
    print(f"push-models would upload these {len(files) + 1} files to the model repository {repo_id} "
          f"(from {checkpoints}):\n")
    groups: dict[str, list[str]] = {}
    for path in files:
        folder, _, name = path.rpartition("/")
        groups.setdefault(folder, []).append(name)
    for folder, names in groups.items():
        paths = [f"{folder}/{n}" if folder else n for n in names]
        size = sum(files[p].stat().st_size for p in paths) / 1e6
        label, what = (f"{folder}/", " ".join(names)) if folder else (names[0], "the pairwise tests of these "
                                                                       "models (python -m seq2seq.compare)")
        print(f"  {label:<22} {len(names):2d} file{'s' if len(names) > 1 else ' '} {size:7.2f} MB  {what}")
    print(f"  {'README.md':<22}  1 file           the model card, generated (printed below)")
    total = sum(f.stat().st_size for f in files.values()) / 1e6
    print(f"  in all: {len(files) + 1} files, {total:.2f} MB")
    left = model_repo_left_out(checkpoints, files)
    print("\nLeft out (never uploaded): " + ("nothing else is there." if not left else
          "training state (resume/), temporary files and anything that is not a checkpoint file:"))
    for path in left:
        print(f"  {path}")
    card = model_card(find_checkpoints(checkpoints), repo_id, [m.name for m in family_members(checkpoints)])
    print(f"\nREADME.md (model card):\n\n{card}")


def dry_run_space(root, space_id: str, files: dict[str, Path]) -> None:
    """What deploy-space would make the Space hold, file by file, and what it leaves out (after DRY_RUN)."""
    space_config(files)
    print(f"deploy-space would make the Space {space_id} hold exactly these {len(files)} files, and remove any other "
          f"file from it:\n")
    print_files(files)
    left = space_left_out(root, files)
    if left is None:
        print(f"\nLeft out: every other file in {root} (not a git checkout, so the allow-list was matched on disk).")
    else:
        print("\nLeft out (the app does not need them): " + (", ".join(left) if left else "nothing else is tracked.")
              + "\nAnd every file git does not track.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.tools.hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push-models", help="upload checkpoints to a model repository, with a model card")
    push.add_argument("--repo-id", required=True, metavar="USER/NAME")
    push.add_argument("--checkpoints", default=str(PROJECT_ROOT / "checkpoints"),
                      help="a folder of checkpoint directories, or one (default: checkpoints/)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--dry-run", action="store_true",
                      help="say what would be sent, file by file, and what is left out, and print the card; send nothing")
    space = commands.add_parser("deploy-space", help="create or update a Gradio Space running this app")
    space.add_argument("--space-id", required=True, metavar="USER/NAME")
    space.add_argument("--root", default=str(PROJECT_ROOT), help="the project checkout to deploy")
    space.add_argument("--private", action="store_true", help="create the Space private")
    space.add_argument("--dry-run", action="store_true",
                       help="say what the Space would hold, file by file, and what is left out; send nothing")
    download = commands.add_parser("download", help="fetch hf://USER/NAME[@REVISION][/MODEL]; print its local path")
    download.add_argument("spec", metavar="hf://USER/NAME[@REVISION][/MODEL]")
    args = parser.parse_args(argv)

    try:
        if args.command == "push-models":
            if args.dry_run:
                dry_run_models(args.checkpoints, args.repo_id)
            else:
                print(f"uploaded: {push_models(args.checkpoints, args.repo_id, args.private)}")
        elif args.command == "deploy-space":
            files = space_files(args.root)
            if args.dry_run:
                print(DRY_RUN)
            for path in left_out(args.root, files):
                print(f"note: {path} is not tracked by git, so the Space will not get it (commit it first)")
            if args.dry_run:
                dry_run_space(args.root, args.space_id, files)
            else:
                print(f"deployed: {deploy_space(args.space_id, args.root, args.private)}")
        else:
            print(resolve_checkpoints(args.spec))
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
