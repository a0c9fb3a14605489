"""docs/configuration.md lists every setting with its environment variable and default."""

from __future__ import annotations

import re
from pathlib import Path

from processor.settings import ENV_VARS
from schemas.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented_with_its_env_var_and_default() -> None:
    rows = {
        m[1]: (m[2], m[3])
        for m in re.finditer(r"^\| `(\w+)` \| `(\w+)` \| `?([^|]*?)`? \|", DOC.read_text(), re.M)
    }
    defaults = Settings()
    assert set(rows) == set(Settings.__struct_fields__)
    for name, (env, default) in rows.items():
        assert env == ENV_VARS[name], name
        value = getattr(defaults, name)
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        assert default == (shown if value != "" else '""'), name
