"""The docs stay true to the code: snippets, showcased tasks, links, documented classes, the site."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest

from airflow_provider_blip.get_provider_info import get_provider_info

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "sync_docs.py"


def _load_sync_docs():
    spec = importlib.util.spec_from_file_location("sync_docs", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sync_docs", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


sync_docs = _load_sync_docs()

MARKDOWN_PAGES = [ROOT / "README.md", *sync_docs.doc_pages(ROOT)]


# -- (1) snippets are current -------------------------------------------------------------------


def test_no_snippet_is_stale_or_broken():
    problems = sync_docs.sync(ROOT, write=False)
    assert not problems, "run python scripts/sync_docs.py:\n" + "\n".join(map(str, problems))


def test_check_command_line_passes():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr


# -- (2) every showcased task of the example DAGs is documented ---------------------------------


def test_every_dag_marker_is_used_by_the_docs():
    used = {(s.source, s.name) for s in sync_docs.snippets(ROOT)}
    markers = sync_docs.dag_markers(ROOT)
    assert markers, "the example DAGs have no [START ...] markers"
    unused = sorted(
        f"{path} {name}" for path, names in markers.items() for name in names if (path, name) not in used
    )
    assert not unused, "showcased in dags/ but in no docs page: " + ", ".join(unused)


# -- (3) relative links resolve -----------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def relative_links(text: str) -> list[str]:
    """Return the link targets of a Markdown text that point at local files."""
    prose = _INLINE_CODE.sub("", _FENCE.sub("", text))
    targets = _INLINE_LINK.findall(prose) + _REFERENCE.findall(prose)
    return [t for t in targets if not _SCHEME.match(t) and not t.startswith("#")]


def test_link_finder():
    text = (
        "[a](docs/hook.md) [b](https://x.org/y) [c](#top) ![d](img/e.png 'x')\n"
        '[f](../g.md#part "title") `[h](not-a-link.md)`\n\n```\n[i](fenced.md)\n```\n[j]: ref/k.md\n'
    )
    assert relative_links(text) == ["docs/hook.md", "img/e.png", "../g.md#part", "ref/k.md"]


@pytest.mark.parametrize("page", MARKDOWN_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_to_existing_files(page):
    broken = []
    for target in relative_links(page.read_text("utf-8")):
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if path and not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


# -- (4) every operator, sensor, trigger and notifier is documented ------------------------------


def _public_classes(module: str) -> set[str]:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} not found"
    assert spec.origin is not None, f"{module} not found"
    tree = ast.parse(Path(spec.origin).read_text("utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")}


def provider_classes() -> list[str]:
    """Return the public classes of the operator, sensor, trigger and notifier modules Airflow is told of."""
    info = get_provider_info()
    names: set[str] = set()
    for kind in ("operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            for module in entry["python-modules"]:
                names |= _public_classes(module)
    for path in info.get("notifications", []):
        module, _, name = path.rpartition(".")
        assert name in _public_classes(module), f"{path} does not exist"
        names.add(name)
    return sorted(names)


def test_provider_classes_are_found():
    assert {"BlipVerifyContactOperator", "BlipMessageStatusSensor", "BlipNotifier"} <= set(provider_classes())


@pytest.mark.parametrize("name", provider_classes())
def test_every_provider_class_is_documented(name):
    pages = sync_docs.doc_pages(ROOT)
    assert any(re.search(rf"\b{name}\b", p.read_text("utf-8")) for p in pages), (
        f"{name} is in no page under docs/"
    )


# -- (5) the docs site builds with no warning, with an API page per public module --------------

MKDOCS_YML = ROOT / "mkdocs.yml"
_API_DIRECTIVE = re.compile(r"^::: (\S+)\s*$", re.MULTILINE)


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    # NO_MKDOCS_2_WARNING silences Material's banner, which is not a build warning.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)


def _warnings(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("WARNING")]


def public_modules() -> list[str]:
    """Return the hook, operator, sensor, trigger and notifier modules Airflow is told of, and the errors."""
    info = get_provider_info()
    modules = {"airflow_provider_blip.exceptions"}
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            modules.update(entry["python-modules"])
    modules.update(path.rpartition(".")[0] for path in info.get("notifications", []))
    return sorted(modules)


@pytest.mark.parametrize("module", public_modules())
def test_every_public_module_has_an_api_page(module):
    documented = {
        name
        for page in (ROOT / "docs" / "api").glob("*.md")
        for name in _API_DIRECTIVE.findall(page.read_text("utf-8"))
    }
    assert module in documented, f"no '::: {module}' in docs/api/*.md"


@pytest.mark.slow
def test_docs_site_builds_in_strict_mode(tmp_path):
    done = _mkdocs_build(MKDOCS_YML, tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _warnings(done), "\n".join(_warnings(done))
    hooks_page = (tmp_path / "site" / "api" / "hooks" / "index.html").read_text("utf-8")
    assert 'id="airflow_provider_blip.hooks.blip.BlipHook"' in hooks_page, "the API page lost its docstrings"


@pytest.mark.slow
def test_strict_build_fails_on_a_broken_anchor(tmp_path):
    # The control: the site's own settings (strict, anchors validated) refuse a link to a
    # heading that does not exist, which plain mkdocs would only mention at INFO level.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [retries](#no-such-heading).\n", "utf-8")
    (tmp_path / "mkdocs.yml").write_text(
        f"INHERIT: {MKDOCS_YML}\ndocs_dir: docs\nnav: [index.md]\nplugins: [search]\n", "utf-8"
    )
    done = _mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert any("no-such-heading" in line for line in _warnings(done)), done.stdout + done.stderr


def _site_url() -> str:
    match = re.search(r"^site_url:\s*(\S+)\s*$", MKDOCS_YML.read_text("utf-8"), re.MULTILINE)
    assert match, "mkdocs.yml has no site_url"
    return match[1]


def test_the_documentation_url_is_the_site():
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["urls"]
    assert urls["Documentation"] == _site_url()


def test_readme_links_into_the_site_name_existing_pages():
    # The README is also the package index page, where relative links break: it links the site.
    site = _site_url()
    prose = _INLINE_CODE.sub("", _FENCE.sub("", (ROOT / "README.md").read_text("utf-8")))
    paths = [t[len(site) :].split("#", 1)[0] for t in _INLINE_LINK.findall(prose) if t.startswith(site)]
    assert len(paths) > 10, "the README no longer links the docs site"
    missing = [
        path
        for path in paths
        if not any((ROOT / "docs" / page).is_file() for page in (f"{path.rstrip('/')}.md", f"{path}index.md"))
    ]
    assert not missing, f"README links to site pages that docs/ does not have: {missing}"


# -- the sync script itself ---------------------------------------------------------------------


def _repo(tmp_path: Path, doc: str) -> Path:
    (tmp_path / "dags").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "dags" / "d.py").write_text(
        "def f():\n    # [START one]\n    x = 1\n\n    y = 2\n    # [END one]\n", "utf-8"
    )
    (tmp_path / "docs" / "p.md").write_text(doc, "utf-8")
    return tmp_path


def test_sync_fills_a_stale_snippet(tmp_path):
    doc = "# P\n<!-- snippet: dags/d.py one -->\n```python\nold\n```\n<!-- end snippet -->\n"
    root = _repo(tmp_path, doc)
    assert [p.message for p in sync_docs.sync(root, write=False)] == ["stale: dags/d.py one"]
    assert "old" in (root / "docs" / "p.md").read_text("utf-8"), "check mode writes nothing"
    sync_docs.sync(root)
    assert (root / "docs" / "p.md").read_text("utf-8") == (
        "# P\n<!-- snippet: dags/d.py one -->\n```python\nx = 1\n\ny = 2\n```\n<!-- end snippet -->\n"
    )
    assert sync_docs.sync(root, write=False) == []
    assert sync_docs.main(["--check", "--root", str(root)]) == 0


def test_check_reports_unknown_files_markers_and_missing_ends(tmp_path, capsys):
    root = _repo(
        tmp_path,
        "<!-- snippet: dags/nope.py one -->\n<!-- end snippet -->\n"
        "<!-- snippet: dags/d.py two -->\n<!-- end snippet -->\n"
        "<!-- snippet: ../outside.py one -->\n<!-- end snippet -->\n"
        "<!-- snippet: dags/d.py one -->\n",
    )
    messages = [p.message for p in sync_docs.sync(root, write=False)]
    assert messages == [
        "unknown file 'dags/nope.py'",
        "unknown marker 'two' in dags/d.py",
        "unknown file '../outside.py'",
        "snippet without its '<!-- end snippet -->'",
    ]
    assert sync_docs.main(["--check", "--root", str(root)]) == 1
    assert "docs/p.md:3: unknown marker 'two' in dags/d.py" in capsys.readouterr().err


def test_unbalanced_dag_markers_are_reported():
    with pytest.raises(sync_docs.BlockError, match="without its"):
        sync_docs.code_blocks("# [START a]\nx = 1\n")
    with pytest.raises(sync_docs.BlockError, match="without its"):
        sync_docs.code_blocks("x = 1\n# [END a]\n")
