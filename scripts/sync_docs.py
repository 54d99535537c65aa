"""Keep the code snippets of the docs in line with the example DAGs they come from.

A docs page includes a showcased block of an example DAG between two markers::

    <!-- snippet: dags/blip_whatsapp_notifications.py howto_operator_blip_verify -->
    ```python
    ...
    ```
    <!-- end snippet -->

The DAG file marks the block with ``# [START howto_operator_blip_verify]`` and
``# [END howto_operator_blip_verify]``. ``python scripts/sync_docs.py`` rewrites every fenced
block with the current lines between those markers, dedented; ``--check`` writes nothing and
exits 1 listing every stale or broken snippet (unknown file, unknown marker, missing end).

Standard library only; ``tests/test_docs.py`` imports it to check the docs on every test run.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SNIPPET_START = re.compile(r"^<!-- snippet: (?P<path>\S+) (?P<name>\S+) -->[ \t]*$")
SNIPPET_END = re.compile(r"^<!-- end snippet -->[ \t]*$")
BLOCK_START = re.compile(r"^\s*# \[START (?P<name>[^\]\s]+)\]\s*$")
BLOCK_END = re.compile(r"^\s*# \[END (?P<name>[^\]\s]+)\]\s*$")

_LANGUAGES = {".py": "python", ".sh": "bash", ".toml": "toml", ".json": "json", ".yaml": "yaml"}


@dataclasses.dataclass(frozen=True)
class Problem:
    """A snippet that is stale or cannot be filled.

    :param doc: the docs page, relative to the repository root.
    :param line: the 1-based line of the snippet's opening marker.
    :param message: what is wrong, e.g. ``"stale"`` or ``"unknown marker 'x'"``.
    """

    doc: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Snippet:
    """One snippet marker of a docs page: which block of which file it shows."""

    doc: str
    line: int
    source: str
    name: str


class BlockError(ValueError):
    """A source file's START/END markers are unbalanced."""


def code_blocks(text: str) -> dict[str, str]:
    """Return every ``# [START name]`` ... ``# [END name]`` block of ``text``, dedented.

    Marker lines of blocks nested inside a block are left out of it, and so are blank lines
    at its start and end.

    :raises BlockError: when a START has no END, an END has no START, or a name repeats.
    """
    open_blocks: dict[str, list[str]] = {}
    done: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        start, end = BLOCK_START.match(line), BLOCK_END.match(line)
        if start:
            name = start["name"]
            if name in open_blocks or name in done:
                raise BlockError(f"line {number}: block {name!r} starts twice")
            open_blocks[name] = []
        elif end:
            name = end["name"]
            if name not in open_blocks:
                raise BlockError(f"line {number}: [END {name}] without its [START {name}]")
            lines = open_blocks.pop(name)
            done[name] = textwrap.dedent("\n".join(lines)).strip("\n")
        else:
            for lines in open_blocks.values():
                lines.append(line)
    if open_blocks:
        raise BlockError(f"[START {sorted(open_blocks)[0]}] without its [END]")
    return done


def dag_markers(root: Path = ROOT) -> dict[str, set[str]]:
    """Return the START marker names of every example DAG, by path relative to ``root``."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / "dags").glob("*.py")):
        names = {m["name"] for m in map(BLOCK_START.match, path.read_text("utf-8").splitlines()) if m}
        if names:
            found[path.relative_to(root).as_posix()] = names
    return found


def doc_pages(root: Path = ROOT) -> list[Path]:
    """Return every Markdown page under ``docs/``, sorted."""
    return sorted((root / "docs").rglob("*.md"))


def snippets(root: Path = ROOT) -> list[Snippet]:
    """Return every snippet marker of every docs page."""
    found = []
    for page in doc_pages(root):
        doc = page.relative_to(root).as_posix()
        for number, line in enumerate(page.read_text("utf-8").splitlines(), start=1):
            match = SNIPPET_START.match(line)
            if match:
                found.append(Snippet(doc, number, match["path"], match["name"]))
    return found


def _fence(source: str, code: str) -> str:
    language = _LANGUAGES.get(Path(source).suffix, "")
    return f"```{language}\n{code}\n```"


def _source_blocks(root: Path, source: str, cache: dict[str, dict[str, str] | str]) -> dict[str, str] | str:
    """Return the blocks of ``source``, or a message saying why there are none."""
    if source not in cache:
        path = (root / source).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            cache[source] = f"unknown file {source!r}"
        else:
            try:
                cache[source] = code_blocks(path.read_text("utf-8"))
            except BlockError as exc:
                cache[source] = f"{source}: {exc}"
    return cache[source]


def render(
    text: str, doc: str, root: Path = ROOT, cache: dict[str, dict[str, str] | str] | None = None
) -> tuple[str, list[Problem]]:
    """Fill every snippet of one page with its current code.

    :param text: the page's Markdown.
    :param doc: the page's path relative to ``root``, for the problems.
    :return: the new text and the problems found: ``stale`` for a snippet whose code
        changed, and anything that kept a snippet from being filled (left as it was).
    """
    cache = {} if cache is None else cache
    lines = text.split("\n")
    out: list[str] = []
    problems: list[Problem] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        start = SNIPPET_START.match(line)
        if not start:
            continue
        opened_at = index
        end = next((i for i in range(index, len(lines)) if SNIPPET_END.match(lines[i])), None)
        nested = next((i for i in range(index, end or len(lines)) if SNIPPET_START.match(lines[i])), None)
        if end is None or nested is not None:
            problems.append(Problem(doc, opened_at, "snippet without its '<!-- end snippet -->'"))
            continue
        blocks = _source_blocks(root, start["path"], cache)
        current = "\n".join(lines[index:end])
        if isinstance(blocks, str):
            problems.append(Problem(doc, opened_at, blocks))
            wanted = current
        elif start["name"] not in blocks:
            message = f"unknown marker {start['name']!r} in {start['path']}"
            problems.append(Problem(doc, opened_at, message))
            wanted = current
        else:
            wanted = _fence(start["path"], blocks[start["name"]])
            if wanted != current:
                problems.append(Problem(doc, opened_at, f"stale: {start['path']} {start['name']}"))
        out.extend(lines[index:end] if wanted == current else [wanted])
        out.append(lines[end])
        index = end + 1
    return "\n".join(out), problems


def sync(root: Path = ROOT, *, write: bool = True) -> list[Problem]:
    """Fill every snippet of every docs page; return the problems found.

    :param write: rewrite the pages whose snippets are stale; with ``False`` nothing is
        written (the ``--check`` mode).
    """
    cache: dict[str, dict[str, str] | str] = {}
    problems: list[Problem] = []
    for page in doc_pages(root):
        doc = page.relative_to(root).as_posix()
        text = page.read_text("utf-8")
        new, found = render(text, doc, root, cache)
        problems += found
        if write and new != text:
            page.write_text(new, "utf-8", newline="\n")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any snippet is off")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository root")
    args = parser.parse_args(argv)
    problems = sync(args.root, write=not args.check)
    stale = [p for p in problems if p.message.startswith("stale")]
    if args.check:
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            hint = "run python scripts/sync_docs.py"
            print(f"{len(problems)} snippet(s) stale or broken: {hint}", file=sys.stderr)
        return 1 if problems else 0
    for problem in problems:
        if problem not in stale:
            print(problem, file=sys.stderr)
    if stale:
        print(f"updated {len(stale)} snippet(s)")
    return 1 if len(stale) < len(problems) else 0


if __name__ == "__main__":
    sys.exit(main())
