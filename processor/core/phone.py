"""Phone numbers to E.164 (CONTRACT 1).

Meta sends digits without `+`, Connectly E.164 with it, shared contact cards a formatted
number. Malformed means "cannot be a phone number at all" (`is_possible_number` false).
A number in a range the library does not know as assigned is still accepted: WhatsApp only
sends registered numbers and the library's range tables lag the world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Separators people and Meta's contact cards put inside numbers. Letters are never allowed:
# phonenumbers would read "1-800-FLOWERS" as digits, which is not a WhatsApp number.
_SEPARATORS = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"\+?[0-9]{2,20}")


@dataclass(frozen=True, slots=True)
class Phone:
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
    if not compact.startswith("+"):
        compact = "+" + compact
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@lru_cache(maxsize=65_536)
def region_of(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    # A number outside the library's known ranges still has a country code: fall back to
    # that code's main region so `country` is filled for phone-only customers.
    region = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(number.country_code or 0)
    return "" if region in ("001", "ZZ") else region
