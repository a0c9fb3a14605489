"""The quick E.164 path gives the library's verdict, or defers to it: never a different one."""

from __future__ import annotations

import random

import phonenumbers

from processor.core.phone import _quick_e164, normalize_phone, region_of


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


def library_region(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(number.country_code or 0)
    return "" if region in ("001", "ZZ") else region


def test_region_without_parse_agrees_with_phonenumbers() -> None:
    """`region_of` builds the parsed number itself; shared codes are where it matters."""
    rng = random.Random(20261126)
    shared = [
        code
        for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
        if len(regions) > 1
    ]
    codes = [str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]
    checked = 0
    for _ in range(20_000):
        code = str(rng.choice(shared)) if rng.random() < 0.8 else rng.choice(codes)
        digits = code + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 13)))
        phone = normalize_phone(digits)  # quick path or the library's, like the pipeline
        if phone is None:
            continue
        checked += 1
        region_of.cache_clear()
        assert region_of(phone.e164) == library_region(phone.e164), phone.e164
    assert checked > 5_000


def test_region_agrees_with_phonenumbers_on_every_example_number_of_shared_codes() -> None:
    """Every region of every shared code, every number type the library has an example of:
    the regions whose patterns decide (not only the first region of a code)."""
    checked = 0
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        if len(regions) < 2:
            continue
        for region in regions:
            for kind in range(12):  # every phonenumbers.PhoneNumberType
                example = phonenumbers.example_number_for_type(region, kind)
                if example is None:
                    continue
                e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                region_of.cache_clear()
                assert region_of(e164) == library_region(e164), (code, region, kind, e164)
                checked += 1
    assert checked > 300
