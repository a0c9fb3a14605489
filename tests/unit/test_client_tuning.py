"""Client tuning settings -> aiokafka arguments: compression, linger, batch and fetch sizes,
rack, request timeout; every codec the settings accept works with what is installed."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from processor.runtime import clients
from processor.settings import SettingsError, load_settings


def settings(**values: Any) -> Any:
    return load_settings(values, environ={})


class Recorder:
    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def __call__(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return self


def test_production_defaults() -> None:
    defaults = settings()
    assert defaults.compression_type == "zstd"
    assert defaults.linger_ms == 5
    assert defaults.client_rack == ""


def test_producer_takes_compression_linger_and_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(clients, "AIOKafkaProducer", recorder)
    clients.make_producer(
        settings(compression_type="zstd", linger_ms=20, batch_size=65536, request_timeout_ms=5000)
    )
    assert recorder.kwargs["compression_type"] == "zstd"
    assert recorder.kwargs["linger_ms"] == 20
    assert recorder.kwargs["max_batch_size"] == 65536
    assert recorder.kwargs["request_timeout_ms"] == 5000
    clients.make_producer(settings(compression_type="none"))
    assert recorder.kwargs["compression_type"] is None


def test_consumer_takes_fetch_sizes_and_rack(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setattr(clients, "AIOKafkaConsumer", recorder)
    clients.make_consumer(
        settings(
            client_rack="use1-az2",
            fetch_min_bytes=1024,
            fetch_max_wait_ms=100,
            fetch_max_bytes=8 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        ),
        group_id="g",
    )
    kwargs = recorder.kwargs
    assert kwargs["client_rack"] == "use1-az2"
    assert (kwargs["fetch_min_bytes"], kwargs["fetch_max_wait_ms"]) == (1024, 100)
    assert kwargs["fetch_max_bytes"] == 8 * 1024 * 1024
    clients.make_consumer(settings(), group_id="g")
    assert recorder.kwargs["client_rack"] is None  # no rack: aiokafka's own default


async def built_size(codec: str) -> int:
    """Bytes of one batch of 200 JSON-ish records as the producer would put them on the wire."""
    chosen = clients.compression(settings(compression_type=codec))
    producer = AIOKafkaProducer(**clients.connection_kwargs(settings()), compression_type=chosen)
    batch = producer.create_batch()
    for i in range(200):
        value = b'{"schema":"customer-identity/1","eventType":"inbound_message","n":%d}' % i
        batch.append(key=b"acme/US.1349", value=value, timestamp=None)
    # The builder behind the public BatchBuilder: build() is what send_batch would send.
    size = len(batch._builder.build())
    await producer.stop()
    return size


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_every_codec_works_with_what_is_installed(codec: str) -> None:
    # The producer refuses a codec whose library is missing; this one compresses.
    assert await built_size(codec) < await built_size("none") / 2


def test_a_codec_without_its_library_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cramjam" else real(name, *a)
    )
    with pytest.raises(SettingsError, match=r"^setting compression_type: zstd needs the cramjam"):
        settings()
    assert settings(compression_type="gzip").compression_type == "gzip"


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"max_partition_fetch_bytes": 10, "fetch_max_bytes": 5}, "max_partition_fetch_bytes"),
        ({"batch_size": 64 * 1024 * 1024}, "batch_size"),
        ({"request_timeout_ms": 10}, "request_timeout_ms"),
    ],
)
def test_bad_client_settings_name_the_setting(values: dict[str, Any], setting: str) -> None:
    with pytest.raises(SettingsError, match=f"^setting {setting}:"):
        settings(**values)
