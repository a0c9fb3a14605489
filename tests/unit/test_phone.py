"""Phone rules: Meta digits and Connectly E.164 -> E.164; only impossible numbers
are malformed, numbers outside the library's known ranges are accepted."""

from __future__ import annotations

import phonenumbers
import pytest

from processor.core.phone import normalize_phone


@pytest.mark.parametrize(
    ("text", "e164", "region"),
    [
        ("14155550123", "+14155550123", "US"),  # Meta: digits without +
        ("+14155550123", "+14155550123", "US"),  # Connectly: E.164
        ("447700900123", "+447700900123", "GB"),
        ("2348030000001", "+2348030000001", "NG"),
        ("919812345678", "+919812345678", "IN"),
        ("+1 415 555 0177", "+14155550177", "US"),  # a contact card's formatted number
        ("+1 (415) 555-0123", "+14155550123", "US"),
        ("+80012345678", "+80012345678", ""),  # non-geographic: no country
    ],
)
def test_normalizes_to_e164(text: str, e164: str, region: str) -> None:
    phone = normalize_phone(text)
    assert phone is not None
    assert phone.e164 == e164
    assert phone.region == region


@pytest.mark.parametrize("text", ["15551230001", "+15551230002", "15555550100"])
def test_fictional_555_numbers_are_accepted(text: str) -> None:
    # The library does not know them as assigned, which does not make them malformed.
    assert not phonenumbers.is_valid_number(phonenumbers.parse("+" + text.lstrip("+")))
    phone = normalize_phone(text)
    assert phone is not None
    assert phone.e164 == "+" + text.lstrip("+")
    assert phone.region == "US"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "+",
        "abc",
        "1-800-FLOWERS",  # letters are never digits here
        "1415555012a",
        "12",  # too short
        "+1234",
        "1555",
        "123456789012345678901",  # too long
        "4155550123",  # no country code: +41 55550123 is not a possible Swiss number
        "++14155550123",
        "1415+5550123",
        "٤١٥٥٥٥٠١٢٣",  # non-ASCII digits
        "US.7301846620193748112",  # a BSUID is not a phone
    ],
)
def test_malformed_phones(text: str) -> None:
    assert normalize_phone(text) is None
