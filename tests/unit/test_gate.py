"""Business number resolution and the enablement gate (docs/enablement.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from processor.core.appearance import BusinessRef
from processor.core.gate import DROP_REASON, ResolvedBusiness, decide, resolve_business
from processor.core.pipeline import Pipeline
from processor.core.records import InputRecord, ItemError, OutputRecord
from processor.core.registry import NumberState, Registry
from schemas.registry import NumberEntry

Run = Callable[..., list[OutputRecord]]
BSUID = "US.7301846620193748112"


@pytest.mark.parametrize(
    ("identity_class", "enabled", "decision"),
    [
        ("bsuid_only", False, "drop"),
        ("bsuid_only", True, "admit"),
        ("phone_and_bsuid", False, "admit"),
        ("phone_and_bsuid", True, "admit"),
        ("phone_only", False, "admit"),
        ("phone_only", True, "admit"),
    ],
)
def test_decide(identity_class: Any, enabled: bool, decision: str) -> None:
    assert decide(identity_class, enabled) == decision


def resolved(found: ResolvedBusiness | ItemError) -> ResolvedBusiness:
    assert isinstance(found, ResolvedBusiness), found
    return found


def test_known_number_by_id_and_by_number(registry: Registry) -> None:
    by_id = resolved(
        resolve_business(BusinessRef(format="meta", phone_number_id="200000000000001"), registry, 0)
    )
    assert by_id == ResolvedBusiness(
        scope="acme", number="+15551230001", phone_number_id="200000000000001", bsuid_enabled=True
    )
    by_number = resolved(
        resolve_business(BusinessRef(format="connectly", number="+15551230002"), registry, 0)
    )
    assert by_number.phone_number_id == "200000000000002"
    assert not by_number.bsuid_enabled


def test_unknown_meta_number_is_scoped_by_waba(registry: Registry) -> None:
    ref = BusinessRef(
        format="meta", number="15559870000", phone_number_id="999", waba_id="300000000000009"
    )
    found = resolved(resolve_business(ref, registry, 0))
    assert found == ResolvedBusiness(
        scope="300000000000009", number="+15559870000", phone_number_id="999", bsuid_enabled=False
    )


def test_unknown_connectly_number_is_its_own_scope(registry: Registry) -> None:
    found = resolved(
        resolve_business(BusinessRef(format="connectly", number="+15559870000"), registry, 0)
    )
    assert found.scope == "+15559870000"
    assert not found.bsuid_enabled


def test_malformed_or_missing_business_number(registry: Registry) -> None:
    bad = resolve_business(BusinessRef(format="connectly", number="acme"), registry, 0)
    assert isinstance(bad, ItemError)
    assert bad.code == "invalid_phone"
    none = resolve_business(BusinessRef(format="meta"), registry, 0)
    assert isinstance(none, ItemError)
    assert none.code == "schema_mismatch"


# --- the gate's behaviours through the pipeline --------------------------------------------


def meta_message(pnid: str, number: str, waba: str = "300000000000001", **msg: Any) -> Any:
    message = {"id": "wamid.G1", "timestamp": "1782000000", "type": "text", **msg}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "metadata": {"display_phone_number": number, "phone_number_id": pnid},
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }


def connectly_inbound(business: str, **customer: Any) -> Any:
    return {
        "timestamp": "1782000000",
        "sender": {"channelType": "whatsapp", **customer},
        "recipient": {"id": business, "channelType": "whatsapp"},
        "message": {"text": "hi"},
    }


def one(out: list[OutputRecord]) -> tuple[OutputRecord, Any]:
    assert len(out) == 1, out
    return out[0], json.loads(out[0].value)


def test_bsuid_only_on_not_enabled_number_is_dropped(run: Run) -> None:
    record, event = one(run(meta_message("200000000000002", "15551230002", from_user_id=BSUID)))
    assert record.route == "dropped"
    assert record.key == b"+15551230002"
    assert event["gate"] == {"numberEnabled": False, "decision": "drop", "reason": DROP_REASON}
    # Never on the identity topic, and the audit copy still says who it was.
    assert event["identity"]["bsuid"] == BSUID
    assert event["customer"]["userId"] == ""


def test_phone_customer_on_not_enabled_number_passes_in_legacy_view(run: Run) -> None:
    record, event = one(
        run(
            meta_message(
                "200000000000002", "15551230002", from_user_id=BSUID, **{"from": "14155550123"}
            )
        )
    )
    assert record.route == "identity"
    assert record.key == f"acme/{BSUID}".encode()  # the key still uses the BSUID
    assert event["customer"] == {
        "id": "+14155550123",
        "channelType": "whatsapp",
        "name": None,
        "userId": "",
        "phoneNumber": "+14155550123",
    }
    assert event["reach"] == {
        "sessionUserId": "",
        "templateTo": "+14155550123",
        "authTemplates": True,
    }
    assert event["gate"] == {"numberEnabled": False, "decision": "admit", "reason": ""}


def test_enabled_number_gains_user_id(run: Run) -> None:
    _record, event = one(
        run(
            meta_message(
                "200000000000001", "15551230001", from_user_id=BSUID, **{"from": "14155550123"}
            )
        )
    )
    assert event["customer"]["id"] == BSUID
    assert event["customer"]["userId"] == BSUID
    assert event["customer"]["phoneNumber"] == "+14155550123"
    assert event["reach"]["sessionUserId"] == BSUID
    assert event["gate"]["numberEnabled"] is True


def test_unknown_meta_number_not_enabled_and_scoped_by_waba(run: Run) -> None:
    out = run(meta_message("999", "15559870000", waba="300000000000009", from_user_id=BSUID))
    record, event = one(out)
    assert record.route == "dropped"
    assert event["business"] == {
        "scope": "300000000000009",
        "number": "+15559870000",
        "phoneNumberId": "999",
    }
    record, event = one(
        run(meta_message("999", "15559870000", waba="300000000000009", **{"from": "447700900123"}))
    )
    assert record.route == "identity"
    assert record.key == b"300000000000009/+447700900123"


def test_unknown_connectly_number_scope_is_the_number(run: Run) -> None:
    record, _event = one(
        run(connectly_inbound("+15559870000", id="+447700900123", phoneNumber="+447700900123"))
    )
    assert record.key == b"+15559870000/+447700900123"
    record, event = one(run(connectly_inbound("+15559870000", id=BSUID, userId=BSUID)))
    assert record.route == "dropped"
    assert event["business"]["scope"] == "+15559870000"


def test_two_scopes_never_merge(registry: Registry) -> None:
    registry.apply(
        NumberState(
            number="+15551230003",
            phone_number_id="200000000000003",
            scope="globex",
            bsuid_enabled=True,
        ),
        -(2**63),
    )
    pipe = Pipeline(registry=registry)
    keys = set()
    for pnid, number, waba in [
        ("200000000000001", "15551230001", "1"),  # acme
        ("200000000000003", "15551230003", "1"),  # globex
        ("777", "15559870001", "300000000000008"),  # unknown, WABA 8
        ("778", "15559870002", "300000000000009"),  # unknown, WABA 9
    ]:
        out: list[OutputRecord] = []
        body = meta_message(pnid, number, waba=waba, from_user_id=BSUID, **{"from": "14155550123"})
        pipe.process(InputRecord(value=json.dumps(body).encode()), out.append)
        record, _event = one(out)
        keys.add(record.key)
    assert keys == {
        f"acme/{BSUID}".encode(),
        f"globex/{BSUID}".encode(),
        f"300000000000008/{BSUID}".encode(),
        f"300000000000009/{BSUID}".encode(),
    }


def test_gate_uses_state_at_event_time(registry: Registry, run: Run) -> None:
    # Number B is enabled from 1782000000 on: older traffic stays gated as it was then.
    registry.apply(
        NumberState(
            number="+15551230002",
            phone_number_id="200000000000002",
            scope="acme",
            bsuid_enabled=True,
        ),
        1_782_000_000,
    )
    before = meta_message(
        "200000000000002", "15551230002", from_user_id=BSUID, timestamp="1781999999"
    )
    after = meta_message(
        "200000000000002", "15551230002", from_user_id=BSUID, timestamp="1782000000"
    )
    assert one(run(before))[0].route == "dropped"
    assert one(run(after))[0].route == "identity"


def test_registry_file_numbers_default_to_not_enabled(run: Run) -> None:
    pipe = Pipeline(registry=Registry([NumberEntry(number="+15551230001", scope="acme")]))
    record, event = one(run(meta_message("", "15551230001", from_user_id=BSUID), pipe))
    assert record.route == "dropped"
    assert event["business"]["scope"] == "acme"
