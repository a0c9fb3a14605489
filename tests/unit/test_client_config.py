"""Kafka security settings -> client arguments, and every client factory uses the same mapping."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from processor.runtime import clients
from processor.runtime.clients import connection_kwargs
from processor.runtime.topics import TopicSpec, ensure_topics
from processor.settings import SettingsError, load_settings


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway self-signed certificate and key (also used as the CA), made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a throwaway certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "client.pem", where / "client.key"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=bsuid-processor-test",
            ),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return {"cafile": cert, "certfile": cert, "keyfile": key}


def settings(**values: Any) -> Any:
    return load_settings({"bootstrap_servers": "broker-1:9093,broker-2:9093", **values}, environ={})


def test_plaintext_has_no_security_arguments() -> None:
    kwargs = connection_kwargs(settings())
    assert kwargs == {
        "bootstrap_servers": "broker-1:9093,broker-2:9093",
        "client_id": "bsuid-processor",
        "security_protocol": "PLAINTEXT",
        "request_timeout_ms": 40_000,
    }


def test_sasl_plaintext_plain_passes_credentials_without_tls() -> None:
    kwargs = connection_kwargs(
        settings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="svc-bsuid",
            sasl_password="s3cret",
        )
    )
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "PLAIN"
    assert kwargs["sasl_plain_username"] == "svc-bsuid"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert "ssl_context" not in kwargs


def test_sasl_ssl_scram_trusts_the_given_ca(tls_files: dict[str, Path]) -> None:
    kwargs = connection_kwargs(
        settings(
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="svc-bsuid",
            sasl_password="s3cret",
            ssl_cafile=str(tls_files["cafile"]),
        )
    )
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "svc-bsuid"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    # The CA file was loaded: the one certificate in it is now a trust anchor.
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "bsuid-processor-test"),),)
    ]


def test_ssl_with_client_certificate_loads_the_key_pair(tls_files: dict[str, Path]) -> None:
    kwargs = connection_kwargs(
        settings(
            security_protocol="SSL",
            ssl_cafile=str(tls_files["cafile"]),
            ssl_certfile=str(tls_files["certfile"]),
            ssl_keyfile=str(tls_files["keyfile"]),
        )
    )
    assert kwargs["security_protocol"] == "SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in kwargs


def test_ssl_with_a_key_that_does_not_match_fails(
    tls_files: dict[str, Path], tmp_path: Path
) -> None:
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text("not a key\n")
    with pytest.raises(ssl.SSLError):
        connection_kwargs(
            settings(
                security_protocol="SSL",
                ssl_certfile=str(tls_files["certfile"]),
                ssl_keyfile=str(wrong_key),
            )
        )


def test_sasl_without_credentials_is_refused_at_load() -> None:
    with pytest.raises(SettingsError, match="sasl_mechanism"):
        settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN")


async def test_aiokafka_accepts_the_sasl_ssl_arguments(tls_files: dict[str, Path]) -> None:
    secure = settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="svc-bsuid",
        sasl_password="s3cret",
        ssl_cafile=str(tls_files["cafile"]),
    )
    # Construction validates the arguments (mechanism, context type) without connecting.
    producer = AIOKafkaProducer(**connection_kwargs(secure))
    await producer.stop()


class Recorder:
    """Stands in for an aiokafka client class: records the arguments it was built with."""

    def __init__(self) -> None:
        self.kwargs: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.kwargs.append(kwargs)
        return FakeAdmin()


class FakeAdmin:
    async def start(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return ["present"]

    async def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"node_id": 1}]}

    async def close(self) -> None:
        pass


async def test_consumer_producer_and_admin_all_use_connection_kwargs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secure = settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc-bsuid",
        sasl_password="s3cret",
    )
    expected = connection_kwargs(secure)
    recorders = {name: Recorder() for name in ("consumer", "producer", "admin")}
    monkeypatch.setattr(clients, "AIOKafkaConsumer", recorders["consumer"])
    monkeypatch.setattr(clients, "AIOKafkaProducer", recorders["producer"])
    monkeypatch.setattr(clients, "AIOKafkaAdminClient", recorders["admin"])

    clients.make_consumer(secure, group_id="g")
    clients.make_producer(secure)
    await ensure_topics(secure, [TopicSpec("present", 1, {})])

    for name, recorder in recorders.items():
        (kwargs,) = recorder.kwargs
        assert kwargs.items() >= expected.items(), name
