"""Phone numbers to E.164 (docs/classification.md).

Meta sends digits without `+`, Connectly E.164 with it, shared contact cards a formatted
number. Malformed means "cannot be a phone number at all" (`is_possible_number` false).
A number in a range the library does not know as assigned is still accepted: WhatsApp only
sends registered numbers and the library's range tables lag the world.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache

import msgspec
import phonenumbers

# Separators people and Meta's contact cards put inside numbers. Letters are never allowed:
# phonenumbers would read "1-800-FLOWERS" as digits, which is not a WhatsApp number.
_SEPARATORS = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"\+?[0-9]{2,20}")


class Phone(msgspec.Struct, frozen=True, gc=False):
    e164: str

    @property
    def region(self) -> str:
        """ISO 3166 alpha-2 region of the number ("" for non-geographic codes).

        Asked only for customers without a BSUID (whose BSUID names the country), so it is
        worked out on demand: for shared codes like +1 it tries every region's patterns.
        """
        return region_of(self.e164)


@lru_cache(maxsize=262_144)
def normalize_phone(text: str) -> Phone | None:
    """The E.164 form of `text`, or None when it cannot be a phone number.

    Cached: the same customers and business numbers recur across a stream, and parsing costs
    tens of microseconds while the whole pipeline budget is a few.
    """
    compact = _SEPARATORS.sub("", text)
    if _DIGITS.fullmatch(compact) is None:
        return None
    digits = compact.removeprefix("+")
    quick = _quick_e164(digits)
    if quick is not None:
        return Phone(quick) if quick else None
    compact = "+" + digits
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _quick_e164(digits: str) -> str | None:
    """The library's verdict for plain international digits, from its own metadata, without
    `parse` (about 60 us): the E.164 form, "" for "not a possible number", None for "ask the
    library" (a national prefix or leading zero could change how it reads the number).

    Same rules as `phonenumbers.parse` + `is_possible_number` for this input shape; a test
    compares the two over hundreds of thousands of numbers.
    """
    if digits[:1] == "0":
        return None  # no country code starts with 0, but int("091") would read one: ask
    for size in (1, 2, 3):
        code = int(digits[:size]) if len(digits) > size else 0
        if code in _COUNTRY_REGIONS:
            break
    else:
        return None
    national = digits[size:]
    if national[0] == "0" or not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    rules = _rules(code)
    if rules is None:
        return None
    possible, local_only, national_prefix = rules
    if national_prefix is not None and national_prefix.match(national):
        return None
    actual = len(national)
    if actual in local_only or actual in possible:
        return "+" + digits
    return ""


_COUNTRY_REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' bounds for a national significant number


@lru_cache(maxsize=512)
def _rules(code: int) -> tuple[frozenset[int], frozenset[int], re.Pattern[str] | None] | None:
    """(possible lengths, local-only lengths, national prefix pattern) of a country code."""
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return None
    desc = metadata.general_desc
    if desc is None or not desc.possible_length or desc.possible_length[0] == -1:
        return None
    prefix = metadata.national_prefix_for_parsing
    return (
        frozenset(desc.possible_length),
        frozenset(desc.possible_length_local_only or ()),
        re.compile(prefix) if prefix else None,
    )


@lru_cache(maxsize=65_536)
def region_of(e164: str) -> str:
    # Country codes are prefix-free: the first 1-3 digits that name one say which. A code of
    # one region gives that region whatever the number (matched, or the fallback below), so
    # only shared codes (+1, +7, +44, ...) need the library's per-region pattern search.
    for size in (1, 2, 3):
        code = int(e164[1 : 1 + size])
        regions = _COUNTRY_REGIONS.get(code)
        if regions is not None:
            if len(regions) == 1:
                return "" if regions[0] in ("001", "ZZ") else regions[0]
            break
    else:
        return ""
    # The national significant number as `phonenumbers.parse` would give it for this E.164
    # (leading zeros kept the way it keeps them), then the first region whose leading digits
    # or number patterns it matches: `region_code_for_number`'s search, with its regular
    # expressions compiled once (tests compare the two over many numbers).
    national = e164[1 + size :]
    zeros = len(national) - len(national.lstrip("0"))
    significant = "0" * zeros + str(int(national)) if zeros else national
    for region in regions:
        test = _region_test(region)
        if test is not None and test(significant):
            return "" if region in ("001", "ZZ") else region
    # A number outside the library's known ranges still has a country code: fall back to
    # that code's main region so `country` is filled for phone-only customers.
    return "" if regions[0] in ("001", "ZZ") else regions[0]


#: (possible lengths, empty for any; the national number pattern) of a number type.
_Desc = tuple[frozenset[int], re.Pattern[str]]


@cache  # one per region of a shared code: a few dozen
def _region_test(region: str) -> Callable[[str], bool] | None:
    """Whether a national number belongs to `region`, as `region_code_for_number` decides it:
    by the region's leading digits when it has them, else by the number having a known type
    (matching the general pattern and that of a type: premium, ..., fixed line, mobile)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
    if metadata is None:
        return None
    if metadata.leading_digits is not None:
        leading = re.compile(metadata.leading_digits)
        return lambda number: leading.match(number) is not None
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    kinds = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        kinds.append(metadata.mobile)
    types = [desc for kind in kinds if (desc := _desc(kind)) is not None]

    def known(number: str) -> bool:
        return _matching(number, general) and any(_matching(number, desc) for desc in types)

    return known


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None  # the library never matches a type without a pattern
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)


def _matching(number: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    if lengths and len(number) not in lengths:
        return False
    return pattern.fullmatch(number) is not None
