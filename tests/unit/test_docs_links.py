"""The docs work from a plain clone (issue 24, items 4 and 7): no database, only the files and the .venv.

For README.md, docs/*.md, dags/*.md, bench/README.md and plugins/README.md:

- every relative markdown link and image resolves to a file or folder inside the repository (a plain clone
  has nothing beside it, so no link may leave it), and a `#fragment` names a heading of the file it points at;
- every image is a PNG, JPEG, GIF or SVG file;
- every repository path written in code (`docs/x.md`, `plugins/halfsky/...py`, `bench/run.py`, a glob such as
  `dbt_project/seeds/*.csv`) exists;
- every `python -m <module>` is importable as a module, and every dotted `halfsky.…` / `halfsky_dev.…` name in
  code is a module, or a name defined at the top of one;
- every `make <target>` written in code is a target of the Makefile;
- README.md has at most 250 lines, and "Reading a night in the grid" has one home, dags/nightly_load.md.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

DOCS = sorted(
    [REPO_ROOT / "README.md", REPO_ROOT / "bench" / "README.md", REPO_ROOT / "plugins" / "README.md"]
    + list((REPO_ROOT / "docs").glob("*.md"))
    + list((REPO_ROOT / "dags").glob("*.md"))
)
README_MAX_LINES = 250

# Top-level folders whose paths the docs name; a path written in code that starts with one must exist.
REPO_DIRS = ("bench", "dags", "dbt_project", "deploy", "docs", "expectations", "plugins", "scripts", "tests", "tools")
REPO_PATH = re.compile(rf"^(?:{'|'.join(REPO_DIRS)})/[^\s]*$")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
PYTHON_M = re.compile(r"python3?\s+-m\s+([A-Za-z_][\w.]*)")
MAKE_TARGET = re.compile(r"(?:^|[;&|(]\s*)\s*make\s+([a-z][\w-]*)", re.M)  # make as a command, not a word
DOTTED = re.compile(r"^(halfsky(?:_dev)?(?:\.[A-Za-z_]\w*)+)$")
# Names in the database that read like module paths: Postgres session settings halfsky sets.
DATABASE_SETTINGS = {"halfsky.person_key", "halfsky.actor"}
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"<svg", b"<?xml")


def _rel(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _code(text: str) -> list[str]:
    """Everything the doc writes as code: fenced blocks and inline spans."""
    fenced = [m.group(0) for m in FENCE.finditer(text)]
    inline = [m.group(2) for m in INLINE_CODE.finditer(FENCE.sub("", text))]
    return fenced + inline


def _prose(text: str) -> str:
    """The doc without its code, where links live (a link inside code is no link)."""
    return INLINE_CODE.sub(lambda m: " " * len(m.group(0)), FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation out, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for match in HEADING.finditer(FENCE.sub("", _text(path))):
        slug = _slug(match.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(path: Path) -> list[tuple[bool, str]]:
    return [(bool(m.group(1)), m.group(3)) for m in LINK.finditer(_prose(_text(path)))]


def _is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I))


def _ids(paths):
    return [_rel(p) for p in paths]


def test_the_docs_are_there():
    names = set(_ids(DOCS))
    for name in ("README.md", "bench/README.md", "docs/contract.md", "docs/operations.md", "docs/security.md",
                 "docs/hostile-input.md", "docs/analysts.md", "docs/dashboards.md", "docs/deploy.md",
                 "docs/sample-and-reference-data.md", "dags/nightly_load.md"):
        assert name in names, f"{name} is missing"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_relative_links_resolve_inside_the_repository(doc):
    problems = []
    for is_image, target in _links(doc):
        if _is_external(target):
            continue
        path_part, _, fragment = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc
        if not dest.is_relative_to(REPO_ROOT):
            problems.append(f"{target}: outside the repository (a plain clone has nothing beside it)")
            continue
        if not dest.exists():
            problems.append(f"{target}: no such file")
            continue
        if fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            problems.append(f"{target}: {_rel(dest)} has no heading with the anchor #{fragment}")
        if is_image:
            head = dest.read_bytes()[:16] if dest.is_file() else b""
            if not head.lstrip().startswith(IMAGE_MAGIC):
                problems.append(f"{target}: not an image")
    assert not problems, f"{_rel(doc)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_no_doc_points_outside_the_clone(doc):
    assert "../shared" not in _text(doc), f"{_rel(doc)} names ../shared, which a plain clone does not have"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_repository_paths_in_code_exist(doc):
    missing = []
    for code in _code(_text(doc)):
        tokens = code.split()
        for token in tokens:
            token = token.strip("'\"(),;:[]").rstrip(".")
            if not REPO_PATH.match(token) or "<" in token or "…" in token or "{" in token:
                continue
            # In a command, `deploy/halfsky-scheduler` may be a kubectl resource: there only what looks like a
            # file (an extension) or a folder (a trailing slash) is a path. A span of its own is a path.
            if len(tokens) > 1 and not (token.endswith("/") or "." in token.rsplit("/", 1)[-1]):
                continue
            if any(ch in token for ch in "*?"):
                if not list(REPO_ROOT.glob(token)):
                    missing.append(f"{token} (matches nothing)")
            elif not (REPO_ROOT / token).exists():
                missing.append(token)
    assert not missing, f"{_rel(doc)} names paths that do not exist: {sorted(set(missing))}"


def _defines(module_file: Path, name: str) -> bool:
    for node in ast.parse(module_file.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
    return False


def _names_something(dotted: str) -> bool:
    """A module, or a module and a name defined at its top (read, not imported: importing
    halfsky.orchestration.celery_config would import Airflow's Celery provider)."""
    if dotted in DATABASE_SETTINGS:
        return True
    parts = dotted.split(".")
    spec, found = _find_spec(parts[0]), 1
    # find_spec imports a name's parent package, never the module itself: only descend through packages.
    while spec is not None and found < len(parts) and spec.submodule_search_locations is not None:
        child = _find_spec(".".join(parts[: found + 1]))
        if child is None:
            break
        spec, found = child, found + 1
    if spec is None:
        return False
    if found == len(parts):
        return True
    return found == len(parts) - 1 and bool(spec.origin) and spec.origin.endswith(".py") \
        and _defines(Path(spec.origin), parts[found])


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent package is missing
        return None


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_python_modules_named_exist(doc):
    text = _text(doc)
    missing = [m for m in sorted(set(PYTHON_M.findall(text))) if _find_spec(m) is None]
    assert not missing, f"{_rel(doc)}: `python -m` of modules that do not exist: {missing}"
    dotted = {m.group(1) for code in _code(text) for m in [DOTTED.match(code.strip())] if m}
    unknown = []
    for name in sorted(dotted):
        if not _names_something(name):
            unknown.append(name)
    assert not unknown, f"{_rel(doc)} names modules or names that do not exist: {unknown}"


def _make_targets() -> set[str]:
    makefile = _text(REPO_ROOT / "Makefile")
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, re.M))
    for phony in re.findall(r"^\.PHONY:(.*)$", makefile, re.M):
        targets.update(phony.split())
    return targets


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_make_targets_named_exist(doc):
    targets = _make_targets()
    named = {t for code in _code(_text(doc)) for t in MAKE_TARGET.findall(code)}
    assert named <= targets, f"{_rel(doc)} names make targets the Makefile lacks: {sorted(named - targets)}"


def test_readme_names_the_two_commands_and_the_fast_lane():
    text = _text(REPO_ROOT / "README.md")
    for command in ("make demo", "make test", "make check"):
        assert command in text, command


def test_readme_is_short():
    lines = _text(REPO_ROOT / "README.md").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}, the rest goes to docs/"


def test_reading_a_night_in_the_grid_has_one_home():
    homes = [_rel(doc) for doc in DOCS
             if any(_slug(m.group(2)) == "reading-a-night-in-the-grid"
                    for m in HEADING.finditer(FENCE.sub("", _text(doc))))]
    assert homes == ["dags/nightly_load.md"], homes
