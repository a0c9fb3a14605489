"""The README and docs/ say only what is true: every relative link resolves, every command
they show exists with the flags they give it, every environment variable they name is read,
and every `make` target they name is in the Makefile."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import get_args

import click
import pytest

from processor.cli.main import cli
from processor.core.records import DeadLetterCode, SkipReason
from processor.settings import CONFIG_ENV, ENV_VARS

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Variables read outside the settings: by the broker launchers, tests and the bench.
OTHER_ENV = {
    CONFIG_ENV,
    "BROKER",
    "KAFKA_CAPABILITIES",
    "BSUID_KAFKA_IMAGE",
    "BSUID_KAFKA_CACHE",
    "BSUID_DEBUG",
    "BSUID_PROCESS_INDEX",
    "BSUID_SUPERVISOR_PID",
    "DOCKER_HOST",
}


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_relative_links_resolve(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+://|mailto:|#", target):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.exists(), f"{ids(doc)} links to {target}, which does not exist"


def commands(text: str) -> list[list[str]]:
    """Every `bsuid-processor ...` invocation shown: in shell blocks and in inline code."""
    found: list[str] = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S):
        joined = block.replace("\\\n", " ")  # continuation lines
        found += [line.split("#", 1)[0] for line in joined.splitlines()]
    found += re.findall(r"`([^`\n]*bsuid-processor [^`\n]*)`", text)
    invocations = []
    for line in found:
        for part in re.split(r"&&|\||;", line):
            words = shlex.split(part.replace("...", ""))
            while words and re.match(r"\w+=", words[0]):
                words.pop(0)  # VAR=value before the command
            if words[:1] == ["bsuid-processor"]:
                invocations.append(words[1:])
    return invocations


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command the words name, and the words after it."""
    command: click.Command = cli
    while words and isinstance(command, click.Group) and not words[0].startswith("-"):
        sub = command.get_command(click.Context(command), words[0])
        assert sub is not None, f"no command {words[0]!r}"
        command, words = sub, words[1:]
    return command, words


#: Shows wrong commands on purpose: its test runs each of them (test_mistakes.py).
MISTAKES = ROOT / "docs" / "troubleshooting.md"


@pytest.mark.parametrize("doc", [d for d in DOCS if d != MISTAKES], ids=ids)
def test_shown_commands_exist_with_their_flags(doc: Path) -> None:
    for words in commands(doc.read_text()):
        command, rest = resolve(list(words))
        accepted = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        accepted |= {"--help", "-h"}
        for word in rest:
            if word.startswith("--"):
                flag = word.split("=", 1)[0]
                assert flag in accepted, f"{ids(doc)}: `{' '.join(words)}`: no flag {flag}"


@pytest.mark.parametrize("doc", DOCS, ids=ids)
def test_named_environment_variables_are_read(doc: Path) -> None:
    known = set(ENV_VARS.values()) | OTHER_ENV
    named = set(
        re.findall(r"\b((?:BSUID|KAFKA)_[A-Z0-9_]+|META_APP_SECRET|CONNECTLY_\w+)", doc.read_text())
    )
    assert named <= known, f"{ids(doc)} names {sorted(named - known)}"


def test_make_targets_named_exist() -> None:
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    for doc in DOCS:
        for target in re.findall(r"`make ([\w-]+)", doc.read_text()):
            assert target in targets, f"{ids(doc)} names `make {target}`"


def test_readme_is_a_guide_not_a_history() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 260
    assert "make demo" in "\n".join(lines)
    assert "make test" in "\n".join(lines)


def test_every_dead_letter_code_and_skip_reason_is_documented() -> None:
    """A consumer of the dead-letter topic keys on the code: each one has a row in docs/dlq.md."""
    text = (ROOT / "docs" / "dlq.md").read_text()
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    expected = set(get_args(DeadLetterCode)) | set(get_args(SkipReason))
    assert expected <= rows, f"not in docs/dlq.md: {sorted(expected - rows)}"
    assert rows <= expected, f"docs/dlq.md names codes the pipeline never gives: {rows - expected}"
