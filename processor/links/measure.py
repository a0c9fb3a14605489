"""Measure the link state's memory: `python -m processor.links.measure [customers]`.

Builds one link per customer (a 19-digit BSUID, an E.164 phone, a username, one event each)
through `LinkState.apply`, then the same state read back from its changelog records, and
prints what tracemalloc counts. The "state size" figures of docs/links.md come from here.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

from processor.core.normalize import event_id
from processor.links.observe import Observation
from processor.links.state import LinkState

T0 = 1_782_000_000


def observation(customer: int) -> Observation:
    return Observation(
        scope="acme",
        phone=f"acme/+1415{customer:07d}",
        bsuid=f"acme/US.{13491208655302741918 + customer}",
        previous="",
        at=T0 + customer,
        event_id=event_id(("measure", str(customer))),
        system=False,
        parent="",
        username=f"user.{customer}",
        links=True,
        rotates=False,
    )


def measure(customers: int) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    state = LinkState()
    for customer in range(customers):
        state.apply(observation(customer))
    live = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del state
    # Untraced: the time per event (inputs made beforehand), and the changelog to read back.
    inputs = [observation(customer) for customer in range(customers)]
    state, changelog = LinkState(), []
    began = time.perf_counter()
    for obs in inputs:
        changelog += state.apply(obs).changelog
    apply_s = time.perf_counter() - began
    del inputs
    del state
    gc.collect()
    tracemalloc.start()
    began = time.perf_counter()
    restored = LinkState()
    for key, value in changelog:
        restored.restore(key, value)
    restore_s = time.perf_counter() - began
    read_back = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(restored.phones) == len(restored.bsuids) == customers
    return {
        "customers": customers,
        "live_bytes_per_link": live / customers,
        "restored_bytes_per_link": read_back / customers,
        "changelog_records": len(changelog),
        "apply_us_per_event": apply_s / customers * 1e6,
        "restore_us_per_record": restore_s / len(changelog) * 1e6,
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for name, value in measure(count).items():
        print(f"{name}: {value:,.1f}")
