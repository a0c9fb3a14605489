"""JSON Schema (2020-12) documents of what the processor publishes and reads, from the Structs.

The msgspec Structs in `schemas/` are the one source; `msgspec.json.schema` turns each into a
JSON Schema, and a few edits here say what the Structs cannot:
- published events (identity, links, classify lines) are encoded without `omit_defaults`, so
  every field is always present: all are `required`. New fields may be added (a consumer must
  ignore what it does not know), so no `additionalProperties: false` there;
- files we read (settings, registry) and control records reject unknown keys, as the loader does;
- a classify line's `value` is the identity event, or for a dead letter the input as a string.

`bsuid-processor schema --write` (or `make schemas`) writes them into `schemas/json/`, checked
in for consumers in other languages; `tests/unit/test_schema_files.py` fails when they drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

import schemas
from processor.settings import ENV_VARS
from schemas.classify_line import ClassifyLine
from schemas.control import EnablementChange
from schemas.identity import SCHEMA_VERSION, IdentityEvent
from schemas.links import Link
from schemas.registry import RegistryFile
from schemas.settings import Settings

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Where the checked-in files live (the source tree, in an editable install).
SCHEMA_DIR = Path(schemas.__file__).parent / "json"
REGENERATE = "make schemas (or: python -m processor schema --write)"


@dataclass(frozen=True)
class Document:
    #: The `schema` command's name for it.
    name: str
    type: Any
    #: One line for the `schema` listing.
    summary: str
    description: str
    #: Published by the processor: every field always present, fields may be added.
    published: bool

    @property
    def file(self) -> str:
        return f"{self.name}.schema.json"


DOCUMENTS = (
    Document(
        "identity",
        IdentityEvent,
        "identity and dropped topics: the identity event",
        f"Identity event ({SCHEMA_VERSION}): the value of every record on the identity topic"
        " (customer.identity.v1) and the dropped-audit topic (customer.identity.dropped.v1)."
        ' camelCase JSON; every field is always present; absent strings are "", absent'
        " objects null. Consumers must ignore fields they do not know.",
        published=True,
    ),
    Document(
        "classify-line",
        ClassifyLine,
        "a line of `classify` output",
        "One line of `bsuid-processor classify` output: route, key, headers and value (the"
        " identity event, or for a dead letter the input line as a string).",
        published=True,
    ),
    Document(
        "link",
        Link,
        "links topic: a phone-BSUID link",
        "The value of the compacted links topic (customer.identity.links.v1), keyed by"
        " <scope>/<E.164 phone>: the current link between a phone and a BSUID in one scope.",
        published=True,
    ),
    Document(
        "enablement",
        EnablementChange,
        "control topic: a number's enablement",
        "A record of the compacted enablement control topic (bsuid.enablement.v1), keyed by"
        " the business number: its registry entry, when it takes effect, and its history.",
        published=False,
    ),
    Document(
        "settings",
        Settings,
        "the settings file (TOML)",
        "The settings TOML file (--config / BSUID_CONFIG), here as the equivalent JSON. Every"
        " key is optional; environment variables and flags override the file.",
        published=False,
    ),
    Document(
        "registry",
        RegistryFile,
        "the number registry file (TOML)",
        "The number registry TOML file (--numbers / BSUID_NUMBERS), here as the equivalent"
        " JSON: one [[number]] table per business WhatsApp number.",
        published=False,
    ),
)
BY_NAME = {document.name: document for document in DOCUMENTS}


def generate(document: Document) -> dict[str, Any]:
    generated = msgspec.json.schema(document.type)
    defs: dict[str, Any] = generated["$defs"]
    if document.published:
        for definition in defs.values():
            definition["required"] = list(definition.get("properties", {}))
    if "IdentityEvent" in defs:
        defs["IdentityEvent"]["properties"]["schema"]["const"] = SCHEMA_VERSION
    if document.type is ClassifyLine:
        _classify_value(defs["ClassifyLine"])
    if document.type is Settings:
        for name, prop in defs["Settings"]["properties"].items():
            prop["description"] = f"environment variable {ENV_VARS[name]}"
    return {
        "$schema": DIALECT,
        "$id": f"urn:bsuid-processor:schema:{document.name}",
        "title": document.name,
        "description": document.description,
        **generated,
    }


def _classify_value(line: dict[str, Any]) -> None:
    """`value` is bytes embedded as is (msgspec.Raw) for events: on the wire, an event."""
    line["properties"]["value"] = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/IdentityEvent"}]}
    line["if"] = {"properties": {"route": {"const": "dlq"}}}
    line["then"] = {"properties": {"value": {"type": "string"}}}
    line["else"] = {"properties": {"value": {"$ref": "#/$defs/IdentityEvent"}}}


def render(document: Document) -> str:
    return json.dumps(generate(document), indent=2, ensure_ascii=False) + "\n"


def stale(directory: Path = SCHEMA_DIR, documents: tuple[Document, ...] = DOCUMENTS) -> list[str]:
    """Files in `directory` that are missing or differ from what the code generates."""
    found = []
    for document in documents:
        path = directory / document.file
        if not path.is_file() or path.read_text(encoding="utf-8") != render(document):
            found.append(document.file)
    return found


def write(directory: Path = SCHEMA_DIR) -> list[str]:
    """(Re)write every document into `directory`; the files whose content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = stale(directory)
    for document in DOCUMENTS:
        (directory / document.file).write_text(render(document), encoding="utf-8")
    return changed
