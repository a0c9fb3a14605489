"""The checked-in JSON Schemas (schemas/json/): up to date with the Structs, valid 2020-12
schemas, and `schema identity` validates every event `classify` prints for the fixtures."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft202012Validator

from processor.schema_files import (
    DOCUMENTS,
    REGENERATE,
    SCHEMA_DIR,
    Document,
    render,
    stale,
    write,
)
from schemas.control import EnablementChange, EnablementState
from schemas.identity import IdentityEvent
from schemas.links import Link
from schemas.settings import Settings

FIXTURES = Path(__file__).parents[1] / "fixtures"


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "processor", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text()))


def test_checked_in_schemas_match_the_structs() -> None:
    out_of_date = stale()
    assert not out_of_date, (
        f"schemas/json is out of date ({', '.join(out_of_date)}): a Struct in schemas/ changed;"
        f" regenerate with {REGENERATE} and commit the files"
    )


class ChangedEvent(IdentityEvent, frozen=True, kw_only=True):
    """IdentityEvent with one more field: what a change to the Struct looks like."""

    tenant: str = ""


def test_a_changed_struct_makes_its_file_stale(tmp_path: Path) -> None:
    write(tmp_path)
    assert stale(tmp_path) == []
    original = next(d for d in DOCUMENTS if d.name == "identity")
    changed = Document("identity", ChangedEvent, original.summary, original.description, True)
    assert stale(tmp_path, (changed,)) == ["identity.schema.json"]


def test_schema_check_names_the_stale_file_and_how_to_regenerate(tmp_path: Path) -> None:
    write(tmp_path)
    assert cli("schema", "--check", "--dir", str(tmp_path)).returncode == 0
    path = tmp_path / "registry.schema.json"
    path.write_text(path.read_text().replace('"scope"', '"portfolio"'))
    done = cli("schema", "--check", "--dir", str(tmp_path))
    assert done.returncode == 1
    (line,) = done.stderr.decode().strip().splitlines()
    assert "registry.schema.json" in line
    assert "make schemas" in line


def test_every_file_is_a_valid_2020_12_schema_and_printed_as_is() -> None:
    for document in DOCUMENTS:
        schema = json.loads((SCHEMA_DIR / document.file).read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    printed = cli("schema", "identity")
    assert printed.returncode == 0
    assert printed.stdout.decode() == render(DOCUMENTS[0])


@pytest.fixture(scope="module")
def classify_lines() -> list[dict[str, Any]]:
    bodies = [
        json.dumps(json.loads(path.read_bytes())).encode()
        for path in sorted((FIXTURES / "webhooks").glob("*.json"))
    ]
    done = cli("classify", "--numbers", str(FIXTURES / "numbers.toml"), stdin=b"\n".join(bodies))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_schema_identity_validates_every_event_classify_prints(
    classify_lines: list[dict[str, Any]],
) -> None:
    printed = cli("schema", "identity")
    identity = Draft202012Validator(json.loads(printed.stdout))
    events = [line["value"] for line in classify_lines if line["route"] != "dlq"]
    assert len(events) >= 15
    for event in events:
        identity.validate(event)
    lines = validator("classify-line")
    for line in classify_lines:
        lines.validate(line)


def test_the_identity_schema_rejects_what_is_not_an_event(
    classify_lines: list[dict[str, Any]],
) -> None:
    identity = validator("identity")
    event = next(line["value"] for line in classify_lines if line["route"] == "identity")
    for broken in (
        {k: v for k, v in event.items() if k != "reach"},  # every field is always present
        {**event, "identity": {**event["identity"], "class": "username_only"}},
        {**event, "schema": "customer-identity/2"},
        {**event, "source": {**event["source"], "partition": "0"}},
    ):
        assert not identity.is_valid(broken)
    assert identity.is_valid({**event, "addedLater": 1})  # consumers ignore new fields
    line = next(line for line in classify_lines if line["route"] == "identity")
    assert not validator("classify-line").is_valid({**line, "value": "a string"})


def test_settings_registry_enablement_and_link_schemas_accept_real_documents() -> None:
    validator("settings").validate(msgspec.to_builtins(Settings()))
    validator("settings").validate({"group_id": "g", "compression_type": "zstd"})
    assert not validator("settings").is_valid({"http_prot": 8080})
    assert not validator("settings").is_valid({"compression_type": "brotli"})
    with (FIXTURES / "numbers.toml").open("rb") as file:
        validator("registry").validate(tomllib.load(file))
    assert not validator("registry").is_valid({"number": [{"number": "+15551230001"}]})
    when = datetime(2026, 6, 21, 12, tzinfo=UTC)
    state = EnablementState(number="+15551230002", scope="acme", effective_at=when)
    change = EnablementChange(
        number="+15551230002", scope="acme", bsuid_enabled=True, effective_at=when, history=[state]
    )
    validator("enablement").validate(json.loads(msgspec.json.encode(change)))
    link = Link(
        scope="acme",
        bsuid="US.1",
        phone="+15551230009",
        parent_bsuid="",
        username="",
        since="2026-06-21T12:00:00Z",
        event_id="e1",
        previous_bsuid="",
    )
    validator("link").validate(json.loads(msgspec.json.encode(link)))
