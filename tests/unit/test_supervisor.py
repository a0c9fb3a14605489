"""`run --processes N`: what each child is started with."""

from __future__ import annotations

import sys

from processor.cli.options import given_flags
from processor.cli.run import run
from processor.ops.supervisor import child_command, child_http_port
from processor.settings import load_settings

LEFT_OUT = frozenset({"processes", "http_port", "create_topics"})


def test_given_flags_parse_back_to_the_same_values() -> None:
    args = [
        "--group-id", "g1", "--exit-when-drained", "--no-create-topics", "--processes", "3",
        "--shutdown-timeout-s", "5", "--guarantee", "exactly-once", "--log-format", "json",
    ]  # fmt: skip
    ctx = run.make_context("run", args)
    again = run.make_context("run", given_flags(ctx, LEFT_OUT))
    for name, value in ctx.params.items():
        if name not in LEFT_OUT:
            assert again.params[name] == value, name
    # Not given: left for the environment and the settings file to decide, as in the parent.
    assert again.params["bootstrap_servers"] is None
    assert again.params["processes"] is None


def test_each_child_is_one_process_on_its_own_port_without_creating_topics() -> None:
    settings = load_settings({"processes": 2, "http_port": 9100}, environ={})
    command = child_command(("run",), ["--exit-when-drained"], settings, 1)
    assert command[:4] == [sys.executable, "-m", "processor", "run"]
    assert command[4:] == [
        "--exit-when-drained", "--processes", "1", "--http-port", "9101", "--no-create-topics",
    ]  # fmt: skip
    assert child_http_port(0, 3) == 0  # off stays off
    links = child_command(("links", "run"), [], settings, 0)
    assert links[3:] == [
        "links",
        "run",
        "--processes",
        "1",
        "--http-port",
        "9100",
        "--no-create-topics",
    ]
