"""The quick E.164 path gives the library's verdict, or defers to it: never a different one."""

from __future__ import annotations

import random

import phonenumbers

from processor.core.phone import _quick_e164


def library_verdict(digits: str) -> str:
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_quick_path_agrees_with_phonenumbers_on_random_numbers() -> None:
    rng = random.Random(20261125)
    codes = [str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]
    answered = 0
    for _ in range(60_000):
        digits = rng.choice(codes) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(1, 16))
        )
        quick = _quick_e164(digits)
        if quick is not None:
            answered += 1
            assert quick == library_verdict(digits), digits
    # It must answer most numbers itself, or it is not worth having.
    assert answered > 30_000


def test_common_whatsapp_numbers_take_the_quick_path() -> None:
    for digits in ("14155550123", "447700900123", "919812345678", "2348030000001", "34612345678"):
        assert _quick_e164(digits) == "+" + digits
