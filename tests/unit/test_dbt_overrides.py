"""The dbt project overrides four dbt-postgres / dbt-adapters internals (dbt_project/macros/overrides/). Each was
copied from, or replaces, an upstream macro of one version; a dbt upgrade that changes that macro would leave
the copy silently diverging. _macros.yml records, per override, the upstream macros it stands in for (package,
file inside the installed distribution, macro name, SHA-256 of the macro's text with whitespace collapsed):
these tests recompute the hashes from what is installed, and fail naming the override to re-check.

No database: files only. `python tests/unit/test_dbt_overrides.py` prints the installed hashes."""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MACROS = REPO_ROOT / "dbt_project" / "macros"
OVERRIDES = MACROS / "overrides"
PROPERTIES = OVERRIDES / "_macros.yml"

# The overrides the project has, by the name dbt gives the macro (a materialization is
# materialization_<name>_<adapter>). Adding or removing one is a decision: change this and _macros.yml together.
EXPECTED = {
    "materialization_view_postgres",
    "postgres__create_table_as",
    "postgres__get_table_columns_and_constraints",
    "get_where_subquery",
}

# Upstream macros dbt documents as the project's to replace: a project's copy is not an override to fence.
EXTENSION_POINTS = {"generate_schema_name", "generate_alias_name", "generate_database_name"}

# Where dbt keeps the macros of the installed adapter and of the global project.
UPSTREAM_DIRS = {"dbt-postgres": "dbt/include/postgres", "dbt-adapters": "dbt/include/global_project"}

_BLOCK = re.compile(
    r"\{%-?\s*(?:(?P<kind>macro|test)\s+(?P<name>\w+)\s*\(|materialization\s+(?P<mat>\w+)\s*,\s*"
    r"(?:adapter\s*=\s*['\"](?P<adapter>\w+)['\"]|(?P<default>default))[^%]*-?%\})"
)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _defined(text: str) -> list[tuple[str, int]]:
    """The dbt names of the macros a .sql file defines, with where each starts."""
    found = []
    for m in _BLOCK.finditer(text):
        if m.group("mat"):
            name = f"materialization_{m.group('mat')}_{m.group('adapter') or 'default'}"
        elif m.group("kind") == "test":
            name = f"test_{m.group('name')}"
        else:
            name = m.group("name")
        found.append((name, m.start()))
    return found


def extract_block(text: str, name: str) -> str:
    """The text of macro `name` (or materialization_<name>_<adapter>), from its opening tag to its end tag."""
    starts = [start for defined, start in _defined(text) if defined == name]
    if len(starts) != 1:
        raise LookupError(f"{name} is defined {len(starts)} times")
    end_tag = r"endmaterialization" if name.startswith("materialization_") else r"end(?:macro|test)"
    end = re.compile(r"\{%-?\s*" + end_tag + r"\s*-?%\}").search(text, starts[0])
    if end is None:
        raise LookupError(f"{name} has no end tag")
    return text[starts[0]:end.end()]


def macro_sha256(text: str, name: str) -> str:
    return hashlib.sha256(_normalise(extract_block(text, name)).encode()).hexdigest()


def installed(package: str, path: str) -> tuple[str, Path]:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise AssertionError(f"{package} is not installed: the overrides in {OVERRIDES} are copies of its macros")
    return dist.version, Path(dist.locate_file(path))


def documented() -> dict[str, dict]:
    macros = yaml.safe_load(PROPERTIES.read_text())["macros"]
    return {m["name"]: m for m in macros}


def _upstream(entry: dict) -> list[dict]:
    return ((entry.get("config") or {}).get("meta") or {}).get("upstream") or []


def _project_macros() -> dict[str, list[Path]]:
    defined: dict[str, list[Path]] = {}
    for sql in sorted(MACROS.rglob("*.sql")):
        for name, _ in _defined(sql.read_text()):
            defined.setdefault(name, []).append(sql)
    return defined


def test_every_override_lives_in_overrides_and_is_documented():
    docs = documented()
    defined = _project_macros()
    assert set(docs) == EXPECTED, f"{PROPERTIES} documents {sorted(docs)}, expected {sorted(EXPECTED)}"
    for name in sorted(EXPECTED):
        entry = docs[name]
        meta = entry["config"]["meta"]
        where = defined.get(name, [])
        assert where == [OVERRIDES / meta["override_file"]], f"{name} is defined in {where}, expected only in overrides/{meta['override_file']}"
        description = " ".join((entry.get("description") or "").split())
        assert len(description) > 200, f"{name}: describe upstream, what changed and why in {PROPERTIES}"
        assert _upstream(entry), f"{name}: no upstream macro recorded in {PROPERTIES}"
        for up in _upstream(entry):
            assert set(up) >= {"package", "version", "path", "macro", "sha256"}, f"{name}: incomplete upstream entry {up}"
            assert up["package"] in UPSTREAM_DIRS, up
            assert up["version"] in description, f"{name}: the description should name the version {up['version']} copied"
    strays = sorted(set(OVERRIDES.glob("*.sql")) - {OVERRIDES / docs[n]["config"]["meta"]["override_file"] for n in docs})
    assert not strays, f"{strays} in overrides/ are not documented overrides"


def _upstream_names() -> set[str]:
    names = set()
    for package, directory in UPSTREAM_DIRS.items():
        _, root = installed(package, directory)
        for sql in root.rglob("*.sql"):
            names.update(name for name, _ in _defined(sql.read_text()))
    return names


def test_no_unfenced_override_outside_overrides():
    """A project macro that replaces an upstream one (same name, an adapter__ version of a dispatched macro, or a
    materialization of an upstream name) belongs in overrides/ with its upstream hash."""
    upstream = _upstream_names()
    unfenced = []
    for name, files in _project_macros().items():
        if name in EXPECTED or name in EXTENSION_POINTS:
            continue
        base = name.split("__", 1)[1] if "__" in name else None
        mat = re.match(r"materialization_(\w+)_\w+$", name)
        if (name in upstream or (base and (base in upstream or f"default__{base}" in upstream))
                or (mat and any(u.startswith(f"materialization_{mat.group(1)}_") for u in upstream))):
            unfenced.append(f"{name} ({', '.join(str(f.relative_to(REPO_ROOT)) for f in files)})")
    assert not unfenced, f"project macros override dbt internals outside macros/overrides/: {unfenced}"


def _cases():
    return [pytest.param(name, entry["config"]["meta"]["override_file"], up, id=f"{name}:{up['macro']}")
            for name, entry in sorted(documented().items()) for up in _upstream(entry)]


@pytest.mark.parametrize("override, override_file, up", _cases())
def test_upstream_macro_is_the_one_the_override_was_taken_from(override, override_file, up):
    version, path = installed(up["package"], up["path"])
    copy = f"dbt_project/macros/overrides/{override_file}"
    assert path.is_file(), (
        f"{up['package']} {version} has no {up['path']} any more: re-check the override {override} "
        f"({copy}) against where {up['macro']} went, then update its upstream entry in {PROPERTIES}")
    try:
        actual = macro_sha256(path.read_text(), up["macro"])
    except LookupError as error:
        raise AssertionError(
            f"{up['package']} {version}: {up['macro']} not found once in {up['path']} ({error}): re-check the override "
            f"{override} ({copy}) and update its upstream entry in {PROPERTIES}") from None
    assert actual == up["sha256"], (
        f"{up['package']} {version} changed {up['macro']} ({path}) since the override {override} was taken from "
        f"{up['version']}: re-check {copy} against the new upstream text (diff the two "
        f"{up['package']} versions' {up['path']}), carry the change into the copy or justify not doing so, then record "
        f"in {PROPERTIES} (config.meta.upstream of {override}, and the description) version: \"{version}\" and "
        f"sha256: {actual}. `python tests/unit/test_dbt_overrides.py` prints every installed hash.")


if __name__ == "__main__":
    for name, entry in sorted(documented().items()):
        for up in _upstream(entry):
            version, path = installed(up["package"], up["path"])
            digest = macro_sha256(path.read_text(), up["macro"]) if path.is_file() else "(file missing)"
            state = "ok" if digest == up["sha256"] else "CHANGED"
            print(f"{state:8} {name}: {up['package']} {version} {up['path']} {up['macro']} sha256: {digest}")
    sys.exit(0)
