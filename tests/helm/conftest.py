from __future__ import annotations

import pytest

from tests.helm.chart import VALUE_SETS, Rendered, render
from tests.tools import require_tool


@pytest.fixture(scope="session")
def helm() -> str:
    return require_tool("helm")


@pytest.fixture(scope="session")
def rendered(helm, tmp_path_factory) -> dict[str, Rendered]:
    """Every value set rendered once per session (helm template is the slow part)."""
    out = {}
    for name, values in VALUE_SETS.items():
        out[name] = render(helm, tmp_path_factory.mktemp(name), values)
    return out
