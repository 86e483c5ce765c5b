"""Locate the external tools some tests drive (helm, kubectl, chromium).

A test that needs a tool calls ``require_tool(name)``: it returns the path, or skips the test when the
tool is missing — unless REQUIRE_TOOLS=1 (set by .ci/run), where a missing tool fails the test, so CI
can never turn green by skipping. ``scripts/install-k8s-tools.sh`` puts helm and kubectl in .tools/bin.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_CANDIDATES = {
    "helm": ["helm"],
    "kubectl": ["kubectl"],
    "chromium": ["chromium", "chromium-browser", "google-chrome", "chrome"],
}


def find_tool(name: str) -> str | None:
    local = REPO / ".tools" / "bin"
    for candidate in _CANDIDATES.get(name, [name]):
        path = local / candidate
        if path.exists() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(candidate)
        if found:
            return found
    return None


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path:
        return path
    message = f"{name} not found (run scripts/install-k8s-tools.sh, or apt-get install chromium prometheus)"
    if os.environ.get("REQUIRE_TOOLS") == "1":
        pytest.fail(f"REQUIRE_TOOLS=1 and {message}")
    pytest.skip(message)
