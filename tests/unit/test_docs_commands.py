"""The README and the guides in docs/ name only commands that exist and link only to files that exist.

Every `platformctl ...` command path written in README.md or docs/*.md (in fenced code blocks and
inline code) is resolved through the real click group and its `--help` must exit 0, in-process.
The README stays an entry page (at most 300 lines).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
README_MAX_LINES = 300

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
# `platformctl` as a word, followed by the words of a command path (a word starting with `-`, `<`,
# `$`, a quote … ends it: options, placeholders and arguments are not part of the path).
COMMAND = re.compile(r"(?<![\w./-])platformctl((?:[ \t]+[a-z][a-z0-9-]*)*)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def documents() -> list[Path]:
    return [README, *sorted((REPO / "docs").glob("*.md"))]


def code_spans(text: str) -> list[str]:
    """The contents of fenced code blocks, then the inline code of the text outside them."""
    blocks = [m.group(2) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    return blocks + INLINE.findall(prose)


def mentioned_words(text: str) -> set[tuple[str, ...]]:
    """Every `platformctl` mention in code as its tuple of leading words (path plus arguments)."""
    found: set[tuple[str, ...]] = set()
    for code in code_spans(text):
        for match in COMMAND.finditer(code):
            found.add(tuple(match.group(1).split()))
    return found


def root_group() -> click.Group:
    from scripts import platformctl

    platformctl._register()
    return platformctl.cli


def command_path(group: click.Group, words: tuple[str, ...]) -> tuple[str, ...]:
    """The words that name commands: descend while the current command is a group.

    A word that is not a subcommand of a group is kept, so that its `--help` fails; the words after
    a leaf command are its arguments (`state versions prod-network`) and are dropped.
    """
    path: list[str] = []
    current: click.Command = group
    for word in words:
        if not isinstance(current, click.Group):
            break
        path.append(word)
        sub = current.commands.get(word)
        if sub is None:
            break
        current = sub
    return tuple(path)


def documented_command_paths() -> dict[tuple[str, ...], list[str]]:
    group = root_group()
    paths: dict[tuple[str, ...], list[str]] = {}
    for doc in documents():
        for words in mentioned_words(doc.read_text(encoding="utf-8")):
            paths.setdefault(command_path(group, words), []).append(doc.relative_to(REPO).as_posix())
    return paths


def run_help(path: tuple[str, ...]) -> click.testing.Result:
    return CliRunner().invoke(root_group(), [*path, "--help"], catch_exceptions=False)


def test_the_docs_name_the_commands_they_explain() -> None:
    paths = documented_command_paths()
    for expected in [("state", "bootstrap"), ("ci", "plan"), ("secrets", "rotate"), ("vault", "bootstrap"),
                     ("local", "up"), ("migrate", "run"), ("deploy",)]:  # fmt: skip
        assert expected in paths, expected


def test_every_documented_command_exists() -> None:
    failures = []
    for path, where in sorted(documented_command_paths().items()):
        result = run_help(path)
        if result.exit_code != 0:
            failures.append(f"platformctl {' '.join(path)} (in {', '.join(sorted(set(where)))}): "
                            f"exit {result.exit_code}: {result.output.strip()[-200:]}")  # fmt: skip
    assert not failures, "documented commands that do not exist:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "snippet",
    [
        "```bash\nplatformctl bootstrap --env prod\n```\n",  # the README's old, wrong name
        "Run `platformctl state frobnicate --env dev` first.\n",
        "```bash\nplatformctl ci publish --env dev\n```\n",
    ],
)
def test_a_made_up_command_is_found_and_fails(snippet: str) -> None:
    words = mentioned_words(snippet)
    assert len(words) == 1
    path = command_path(root_group(), next(iter(words)))
    result = run_help(path)
    assert result.exit_code != 0
    assert "No such command" in result.output


def test_arguments_after_a_command_are_not_part_of_its_path() -> None:
    words = mentioned_words("```\nplatformctl state versions prod-network --env prod\n```\n")
    assert {command_path(root_group(), w) for w in words} == {("state", "versions")}


def test_the_readme_is_an_entry_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    # The two commands, as fenced code blocks.
    blocks = [m.group(2).strip() for m in FENCE.finditer(text)]
    assert "make local" in blocks and "make test" in blocks


def relative_links(doc: Path) -> list[str]:
    text = FENCE.sub("", doc.read_text(encoding="utf-8"))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # https:, mailto:, an anchor on the same page
        targets.append(target)
    return targets


def test_every_relative_link_points_to_an_existing_file() -> None:
    broken = []
    for doc in documents():
        for target in relative_links(doc):
            path = target.split("#", 1)[0]
            if not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "guide.md"
    doc.write_text("See [the guide](missing.md#part), [web](https://example.com) and [here](#top).\n")
    assert relative_links(doc) == ["missing.md#part"]
