"""The product's layers: the pure core and `classify` load no Kafka client and no dev tooling."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("aiokafka", "processor.devkit", "processor.runtime", "processor.stages")


def loaded_after(code: str, stdin: str = "") -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stderr.split())


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(HEAVY))


def test_the_pure_core_imports_no_kafka_client() -> None:
    assert heavy(loaded_after("import processor.core.pipeline")) == []


def test_classify_loads_neither_aiokafka_nor_the_generators() -> None:
    run_classify = (
        "from processor.cli.main import cli\n"
        "try:\n    cli(['classify'], standalone_mode=False)\n"
        "except SystemExit:\n    pass"
    )
    assert heavy(loaded_after(run_classify, stdin="{}\n")) == []


def test_the_runtime_does_not_depend_on_dev_tooling() -> None:
    modules = loaded_after("import processor.wiring")
    assert [m for m in modules if m.startswith("processor.devkit")] == []
