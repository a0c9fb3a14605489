"""Base Structs that carry the options shared by every schema module."""

from __future__ import annotations

import msgspec


class WebhookStruct(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Part of a third-party webhook.

    Subclasses repeat `frozen=True, kw_only=True`: msgspec does not inherit `kw_only`, and
    mypy does not see an inherited `frozen`.

    Unknown fields are ignored (Meta and Connectly add fields without notice), every field
    we read has a default (a missing field, `null` and `""` all mean "absent"), and it is
    frozen so a decoded body can be shared safely.

    `gc=False`: a decoded body is a tree (JSON cannot express a cycle), so the cyclic garbage
    collector has nothing to find in it; tracking every decoded part cost the worker about a
    third of its CPU in collections (bench/, README "Performance").
    """


class OwnedStruct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A document whose schema we own (registry, settings, control records).

    Unknown fields are rejected so that a misspelt setting fails loudly instead of being
    ignored.
    """
