"""Each ClusterRole grants exactly the Kubernetes API calls its component's code makes (issue 19, item 5).

The agent's calls are found by reading its source: every ``.get(...)`` / ``.watch(...)`` on its ``KubeApi``
client, with the API path it passes (a literal, an f-string, or a ``_PATHS`` table entry). The report job's
are the official ``kubernetes`` client's API methods that recommender/autoscalers.py calls, each resolved
to the resource path the client itself sends. A call added without RBAC, or a rule no call needs, fails the
comparison with the rendered chart."""

from __future__ import annotations

import ast
import re

import pytest

from tests.helm.chart import VALUE_SETS
from tests.tools import REPO

AGENT = REPO / "agent"
REPORT_CALLERS = (REPO / "recommender" / "autoscalers.py",)  # every Kubernetes API call of the report job
# /api/v1/<resource>[/<name>] and /apis/<group>/<version>[/namespaces/<ns>]/<resource>[/<name>]
_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[a-z0-9.-]+)/v[0-9a-z]+)(?:/namespaces/[^/]+)?/(?P<resource>[a-z]+)"
                   r"(?P<name>/[^/]+)?$")


def _templates(node: ast.AST, tables: dict[str, list[str]]) -> list[str]:
    """The API paths an argument can be: '{x}' for every formatted field."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{x}" for v in node.values)]
    # self._PATHS[kind].format(...)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Subscript) and isinstance(node.func.value.value, ast.Attribute)):
        return [re.sub(r"\{[^}]*\}", "{x}", t) for t in tables[node.func.value.value.attr]]
    raise AssertionError(f"an API call with a path the test cannot read: {ast.unparse(node)}")


def code_calls() -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every call the agent's code makes through its KubeApi client."""
    calls = set()
    for path in sorted(AGENT.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        tables = {}
        for node in ast.walk(tree):  # class-level dicts of API paths, e.g. _PATHS = {"Job": "/apis/batch/..."}
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                values = [v.value for v in node.value.values if isinstance(v, ast.Constant)]
                if values and all(isinstance(v, str) and v.startswith("/api") for v in values):
                    for target in node.targets:
                        tables[getattr(target, "id", None) or getattr(target, "attr", None)] = values
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if not (isinstance(owner, ast.Attribute) and owner.attr == "api"):
                continue  # only calls on the client: self.api.<verb>(...)
            assert node.func.attr in ("get", "watch"), f"{path}: a {node.func.attr} call on the API client"
            for template in _templates(node.args[0], tables):
                m = _PATH.match(template)
                assert m, f"{path}: unexpected API path {template}"
                verb = "watch" if node.func.attr == "watch" else ("get" if m["name"] else "list")
                calls.add((m["group"] or "", m["resource"], verb))
    return calls


def report_calls() -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) of every official-client API method the report job's code calls:
    ``client.<Group>Api(api).<method>(...)``, resolved to the path the client's generated method requests
    (for custom objects, the group and plural passed as literals)."""
    import inspect

    from kubernetes import client

    calls = set()
    for path in REPORT_CALLERS:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Attribute)
                    and node.func.value.func.attr.endswith("Api")):
                continue
            api, method = getattr(client, node.func.value.func.attr), node.func.attr
            verb = {"list": "list", "read": "get", "watch": "watch"}.get(method.split("_")[0])
            assert verb, f"{path}: {method} is not a read call"
            if method.endswith("custom_object"):
                group, _version, plural = (a.value for a in node.args[:3])
                calls.add((group, plural, verb))
                continue
            # the generated client builds the request in _<method>_serialize (or, in older ones, <method>_with_http_info)
            builder = getattr(api, f"_{method}_serialize", None) or getattr(api, f"{method}_with_http_info")
            (template,) = set(re.findall(r"'(/apis?/[^']+)'", inspect.getsource(builder)))
            m = _PATH.match(re.sub(r"\{[^}]*\}", "x", template))
            assert m, f"{path}: {method} requests {template}"
            calls.add((m["group"] or "", m["resource"], verb))
    return calls


def _granted(role: dict) -> set[tuple[str, str, str]]:
    granted = set()
    for rule in role["rules"]:
        assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
        granted |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return granted


def roles(r) -> dict[str, dict]:
    """The chart's ClusterRoles by component (agent, report)."""
    return {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in r.all("ClusterRole")}


def test_the_scan_sees_the_calls_of_the_report_job():
    # What docs/deploy.md says the report job does: list HPAs across namespaces and KEDA ScaledObjects.
    assert report_calls() == {("autoscaling", "horizontalpodautoscalers", "list"), ("keda.sh", "scaledobjects", "list")}


def test_the_scan_sees_the_calls_of_the_agent():
    # What docs/deploy.md says the agent does; the scan itself is what the chart is compared with.
    assert code_calls() == {("", "pods", "list"), ("", "pods", "watch"), ("", "nodes", "get"),
                            ("apps", "replicasets", "get"), ("batch", "jobs", "get")}


def test_the_pod_list_and_watch_are_scoped_to_the_node():
    source = (AGENT / "attribution" / "pods.py").read_text()
    assert 'return {"fieldSelector": f"spec.nodeName={self.node_name}"}' in source
    calls = re.findall(r"self\.api\.(get|watch)\(\"/api/v1/pods\", (self\._params\(\)|\w+)", source)
    assert sorted(calls) == [("get", "self._params()"), ("watch", "params")], calls
    assert "params = self._params()" in source  # the watch's params start from the node's selector


@pytest.mark.tools
@pytest.mark.parametrize("name", [n for n, v in VALUE_SETS.items() if v.get("rbac", {}).get("create", True)])
def test_rendered_roles_grant_exactly_what_the_code_calls(rendered, name):
    by_component = roles(rendered[name])
    assert _granted(by_component.pop("agent")) == code_calls()
    report = by_component.pop("report", None)
    lists = VALUE_SETS[name].get("report", {}).get("enabled", True)  # every value set keeps the listing on
    assert (report is not None) == lists and not by_component
    if report is not None:
        assert _granted(report) == report_calls()
