"""Locate the external tools some tests drive (helm, kubectl, chromium, prometheus, promtool).

A test that needs a tool calls ``require_tool(name)``: it returns the path, or skips the test when the
tool is missing — unless REQUIRE_TOOLS=1 (set by .ci/run), where a missing tool fails the test, so CI
can never turn green by skipping. The skip message names the fix for that tool: ``bash
scripts/install-k8s-tools.sh`` for helm and kubectl (into .tools/bin), ``apt-get install chromium`` for chromium,
``apt-get install prometheus`` for prometheus and promtool.
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


# What a user runs to get each tool: the skip message names exactly that, not every tool's fix.
INSTALL_HINTS = {
    "helm": "bash scripts/install-k8s-tools.sh (puts helm and kubectl in .tools/bin)",
    "kubectl": "bash scripts/install-k8s-tools.sh (puts helm and kubectl in .tools/bin)",
    "chromium": "apt-get install chromium",
    "prometheus": "apt-get install prometheus (Debian's package brings promtool too)",
    "promtool": "apt-get install prometheus (Debian's package brings promtool too)",
}


def missing_tool_message(name: str) -> str:
    hint = INSTALL_HINTS.get(name)
    return f"{name} not found on PATH or in .tools/bin" + (f"; install it with: {hint}" if hint else "")


def require_tool(name: str) -> str:
    path = find_tool(name)
    if path:
        return path
    message = missing_tool_message(name)
    if os.environ.get("REQUIRE_TOOLS") == "1":
        pytest.fail(f"REQUIRE_TOOLS=1 and {message}")
    pytest.skip(message)


def kustomize_with_suggestions(overlay: Path, resources: list[Path], suggestions: Path) -> list[dict]:
    """``kubectl kustomize`` of a new overlay holding ``resources`` (the original objects) and the
    ``suggestions`` folder as a component, as a user applies it: the rendered objects. Fails the test
    when kustomize refuses the overlay."""
    import subprocess

    import yaml

    kubectl = require_tool("kubectl")
    overlay.mkdir(parents=True, exist_ok=True)
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(p, overlay) for p in resources],
        "components": [os.path.relpath(suggestions, overlay)]}))
    result = subprocess.run([kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def render_in_chromium(page: Path, tmp_path: Path, shot_name: str, height: int) -> tuple[Path, str]:
    """Open ``page`` in headless Chromium as a reader would: (a 1280-pixel-wide PNG screenshot, kept under
    $RIGHTSIZER_ARTIFACTS when set, which CI uploads; the DOM after its scripts ran)."""
    import subprocess

    chromium = require_tool("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-dev-shm-usage", "--user-data-dir=" + str(tmp_path / "profile")]
    shot = Path(os.environ.get("RIGHTSIZER_ARTIFACTS") or tmp_path) / shot_name
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([chromium, *flags, f"--screenshot={shot}", f"--window-size=1280,{height}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return shot, dom
