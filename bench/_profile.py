"""Turn the worker's pyinstrument session into the HTML report and a flat hot-spot summary.

pyinstrument's tree is good for browsing but hides what to optimize first; the summary lists
functions by self time (where the samples' leaf Python frame was, C calls included in their
caller) and by inclusive time, as shares of the busy (non-idle) time. Idle is the event loop
waiting in `selectors` for the broker.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pyinstrument.renderers import HTMLRenderer
from pyinstrument.session import Session

_IDLE_FILES = ("selectors.py",)
_AREAS = (
    ("processor/core/", "processor.core (pure pipeline)"),
    ("processor/runtime/", "processor.runtime (stage loop, deliveries)"),
    ("processor/stages/", "processor.stages (handlers)"),
    ("schemas/", "schemas (msgspec Structs)"),
    ("/aiokafka/", "aiokafka"),
    ("/structlog/", "structlog"),
    ("/phonenumbers/", "phonenumbers"),
    ("/asyncio/", "asyncio"),
)


#: Where inclusive time is worth reading: our code and the libraries it drives.
_INCLUSIVE = ("processor/", "schemas/", "/aiokafka/", "/phonenumbers/", "/structlog/", "/msgspec/")


def _parts(frame_info: str) -> tuple[str, str, str]:
    """(function, file, line) of one stack entry (attributes after \\x01 dropped)."""
    identifier = frame_info.split("\x01", 1)[0]
    function, _, rest = identifier.partition("\x00")
    path, _, line = rest.partition("\x00")
    return function, path, line


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/work/main/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _area(path: str) -> str:
    for marker, name in _AREAS:
        if marker in path:
            return name
    return "other (stdlib, interpreter)"


def _top(times: dict[str, float], count: int) -> list[tuple[str, float]]:
    return sorted(times.items(), key=lambda item: item[1], reverse=True)[:count]


def summarize(session: Session, top: int = 25) -> str:
    self_time: defaultdict[str, float] = defaultdict(float)
    inclusive: defaultdict[str, float] = defaultdict(float)
    areas: defaultdict[str, float] = defaultdict(float)
    idle = busy = 0.0
    for stack, seconds in session.frame_records:
        function, path, _line = _parts(stack[-1])
        # The leaf is `epoll.poll` (a C call, no file); its caller is selectors.select.
        if any(_parts(info)[1].endswith(_IDLE_FILES) for info in stack[-2:]):
            idle += seconds
            continue
        busy += seconds
        self_time[f"{function}  ({_short(path)})"] += seconds
        areas[_area(path)] += seconds
        seen: set[str] = set()
        for frame_info in stack:
            fn, file, _ = _parts(frame_info)
            if not any(marker in file for marker in _INCLUSIVE):
                continue  # runpy, click, asyncio: every sample is under them
            name = f"{fn}  ({_short(file)})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += seconds
    lines = [
        f"sampled {idle + busy:.1f} s: busy {busy:.1f} s, idle (waiting on I/O) {idle:.1f} s",
        "",
        "self time by area (% of busy):",
    ]
    lines += [f"  {100 * s / busy:5.1f}%  {name}" for name, s in _top(areas, len(areas))]
    lines += ["", f"top {top} functions by self time (% of busy):"]
    lines += [f"  {100 * s / busy:5.1f}%  {name}" for name, s in _top(self_time, top)]
    lines += ["", f"top {top} functions by inclusive time (% of busy; ours and libraries only):"]
    lines += [f"  {100 * s / busy:5.1f}%  {name}" for name, s in _top(inclusive, top)]
    return "\n".join(lines) + "\n"


def write_reports(session_path: Path) -> tuple[Path, Path]:
    """The HTML next to the session file, and the flat summary as text; returns both paths."""
    session = Session.load(session_path)
    html = session_path.with_suffix(".html")
    html.write_text(HTMLRenderer().render(session))
    text = session_path.with_suffix(".txt")
    text.write_text(summarize(session))
    return html, text
