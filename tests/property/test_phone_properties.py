"""Phone normalization over arbitrary digit strings: the quick E.164 path gives the library's
verdict or defers to it, and whatever `normalize_phone` accepts has a region that can be
worked out (the pipeline asks for it for every phone-only customer).

Found by the reliability fuzzer: a byte flip turned a `recipient_id` into "0916000032910";
the quick path read "091" as country code 91 and accepted "+0916000032910", which the
library cannot parse, so the event builder raised."""

from __future__ import annotations

import phonenumbers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from processor.core.phone import _quick_e164, normalize_phone, region_of

digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
#: Numbers that start like a country code (or a zero before one): where the quick path works.
prefixed = st.tuples(
    st.sampled_from(["", "0", "00", "+", "+0"]),
    st.sampled_from([str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE]),
    st.text(alphabet="0123456789", max_size=16),
).map("".join)


def library_verdict(text: str) -> str:
    try:
        number = phonenumbers.parse("+" + text.removeprefix("+"), None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=2000, deadline=None)
@given(digits | prefixed)
@example("0916000032910")
@example("01415555012")
def test_quick_path_never_disagrees_with_the_library(text: str) -> None:
    plain = text.removeprefix("+")
    if not plain:
        return
    quick = _quick_e164(plain)
    if quick is not None:
        assert quick == library_verdict(plain)


@settings(max_examples=2000, deadline=None)
@given(digits | prefixed)
@example("0916000032910")
@example("+0916000032910")
def test_an_accepted_phone_is_e164_and_has_a_region(text: str) -> None:
    phone = normalize_phone(text)
    if phone is None:
        return
    assert phone.e164.startswith("+")
    assert phone.e164[1] != "0"
    assert phone.e164 == library_verdict(text)
    region_of(phone.e164)  # must not raise
