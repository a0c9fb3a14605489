"""No phone number, message text, secret or signature in any log line of a worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from processor.devkit.brokers.base import RunningBroker
from processor.devkit.generate import GeneratedRecord
from processor.ops.log import mask_phone_numbers
from tests.reliability.harness import CONNECTLY_SECRET, META_SECRET, Figures, Sensitive
from tests.reliability.scenarios import log_hygiene, signed_meta, stream

SAMPLE = stream(200, 5)


@pytest.fixture(scope="module")
def sensitive() -> Sensitive:
    return Sensitive.of(SAMPLE, [META_SECRET, CONNECTLY_SECRET])


def test_the_scan_finds_what_it_looks_for(sensitive: Sensitive) -> None:
    phone = sorted(sensitive.phones)[0]
    signature = sorted(sensitive.signatures)[0]
    text = sorted(sensitive.texts)[0]
    planted = [
        f'{{"event":"x","number":"+{phone}"}}',
        f'{{"event":"x","wa_id":"{phone}"}}',
        f'{{"event":"x","n":"id-{phone}-x"}}',
        '{"event":"' + text + '"}',
        f'{{"event":"x","secret":"{META_SECRET}"}}',
        f'{{"event":"x","header":"sha256={signature}"}}',
    ]
    found = sensitive.scan("\n".join(planted))
    assert len(found) == len(planted), found
    # Findings never repeat what they found.
    assert not any(phone in f or META_SECRET in f or signature in f for f in found)


def test_masked_phones_and_other_numbers_pass(sensitive: Sensitive) -> None:
    phone = sorted(sensitive.phones)[0]
    masked = mask_phone_numbers(None, "info", {"event": f"number +{phone} is not E.164"})
    lines = [
        '{"event":"' + masked["event"] + '"}',
        '{"event":"batch","next_offsets":{"0":1200},"timestamp":"2026-11-25T16:04:36.57Z"}',
    ]
    assert sensitive.scan("\n".join(lines)) == []


def test_the_generated_traffic_has_what_the_scan_needs(sensitive: Sensitive) -> None:
    assert len(sensitive.phones) > 20
    assert len(sensitive.texts) >= 3
    assert len(sensitive.signatures) > 100
    assert sensitive.secrets == {META_SECRET, CONNECTLY_SECRET}
    big = Sensitive.of([signed_meta(b"k", b'{"from":"+14155550123"}')])
    assert "14155550123" in big.phones
    assert not Sensitive.of([GeneratedRecord(None, b"not json", [])]).phones


@pytest.mark.integration
@pytest.mark.timeout(240)
async def test_worker_logs_show_no_phone_text_or_secret(
    reliability_broker: RunningBroker, tmp_path: Path, report: Callable[[Figures], None]
) -> None:
    figures, control_errors = await log_hygiene(reliability_broker, tmp_path, records=3000)
    report(figures)
    assert figures.log_lines > 20
    assert figures.leaks == []
    # The error path that carries customer phones (malformed control records) did run.
    assert control_errors == 3
