"""Alibaba PAI "openb" trace (cluster-trace-gpu-v2023, FGD paper, USENIX ATC '23) packed onto its real
GPU nodes with the optimizer's fixed-inventory packer.

Protocol of the FGD paper's simulator: the pod list in a seeded random order, repeated (each pass a
new shuffle) until the arrived GPU requests reach 130 % of the cluster's GPUs; fractional ``gpu_milli``
pods share one GPU, multi-GPU pods take whole GPUs on one node, ``gpu_spec`` restricts GPU models,
CPU and memory must fit. Prints the GPU allocation ratio (GPU units placed / cluster GPUs).

Difference to the paper, stated plainly: FGD and its baselines are online schedulers (each pod is
placed or rejected on arrival, never moved); this packer is offline (it sees every arrived pod and
chooses which to place). The published numbers at 130 %: FGD 95.39 %, BestFit 93.08 %, Random 87.47 %.

``--bound`` also prints an upper bound on the ratio that no packer can beat on the same arrived pods:
the LP over per-GPU share patterns, GPU dimension only (``optimizer.solver.share_bound``), in percent
rounded up.

    python benchmarks/openb_packing.py --pods FILE --nodes FILE [--seed 42] [--inflate 1.3] [--bound]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from optimizer.solver import MIB, NodeType, PodSpec  # noqa: E402
from optimizer.solver.fixed import place_on_fixed_nodes  # noqa: E402
from optimizer.solver.share_bound import gpu_units_upper_bound, offered_shares  # noqa: E402


def _data_dir() -> Path:
    """../shared/data next to the checkout (or any folder above it)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "alibaba-gpu-v2023" / "csv"
        if candidate.is_dir():
            return candidate
    return Path("shared/data/alibaba-gpu-v2023/csv")


DATA = _data_dir()


def load_nodes(path: Path) -> list[NodeType]:
    shapes: dict[tuple, NodeType] = {}
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            key = (int(row["cpu_milli"]), int(row["memory_mib"]), int(row["gpu"]), row["model"] or None)
            if key not in shapes:
                shapes[key] = NodeType(f"openb-{key[3]}-{key[2]}g-{key[0]}m", "on-demand", 1.0, key[0] / 1000,
                                       key[1] * MIB, key[2], key[3], 0)
            out.append(shapes[key])
    return out


def load_pods(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def arrived(rows: list[dict], total_gpus: int, inflate: float, seed: int) -> list[PodSpec]:
    rng = random.Random(seed)
    target = inflate * total_gpus * 1000
    pods: list[PodSpec] = []
    acc = 0
    rnd = 0
    while acc < target:
        order = rows[:]
        rng.shuffle(order)
        for r in order:
            if acc >= target:
                break
            n, milli = int(r["num_gpu"]), int(r["gpu_milli"])
            spec = r["gpu_spec"].strip()
            models = frozenset(spec.split("|")) if spec else None
            common = dict(cpu=int(r["cpu_milli"]) / 1000, mem=int(r["memory_mib"]) * MIB)
            name = f"{r['name']}#{rnd}"
            if n == 0:
                pods.append(PodSpec(name, **common))
            elif n == 1 and milli < 1000:
                pods.append(PodSpec(name, gpu_milli=milli, gpu_models=models, **common))
            else:
                pods.append(PodSpec(name, gpus=n, gpu_models=models, **common))
            acc += n * milli
        rnd += 1
    return pods


def run(pods_path: Path, nodes_path: Path, seed: int, inflate: float, bound: bool = False) -> tuple[float, dict]:
    nodes = load_nodes(nodes_path)
    total = sum(t.gpus for t in nodes)
    pods = arrived(load_pods(pods_path), total, inflate, seed)
    upper = None
    if bound:  # in percent, rounded up to two decimals so the printed number stays a bound
        milli = gpu_units_upper_bound(total, offered_shares(pods)).bound_milli
        upper = math.ceil(milli * 10_000 / (total * 1000)) / 100
    t0 = time.perf_counter()
    res = place_on_fixed_nodes(nodes, pods)
    secs = time.perf_counter() - t0
    ratio = res.gpu_milli_placed() / (total * 1000)
    cpu_only = [p for p in pods if not p.uses_gpu]
    placed_cpu = sum(1 for p in cpu_only if p.name in res.placed)
    return ratio, dict(pods=len(pods), placed=len(res.placed), cpu_only=len(cpu_only), cpu_only_placed=placed_cpu,
                       seconds=secs, gpus=total, bound=upper)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=Path, nargs="+", default=[DATA / "openb_pod_list_default.csv"],
                    help="one or more openb_pod_list_*.csv files")
    ap.add_argument("--nodes", type=Path, default=DATA / "openb_node_list_gpu_node.csv")
    ap.add_argument("--seed", type=int, nargs="+", default=[42])
    ap.add_argument("--inflate", type=float, default=1.3)
    ap.add_argument("--bound", action="store_true",
                    help="also print an upper bound on the ratio for the same arrived pods (GPU-only pattern LP, "
                         "rounded up)")
    args = ap.parse_args(argv)
    print(f"{'pod list':<28} {'seed':>4} {'pods':>6} {'placed':>6} {'cpu-only placed':>15} {'time s':>6} {'GPU alloc %':>11}"
          + (f" {'bound %':>8}" if args.bound else ""))
    worst = 100.0
    for path in args.pods:
        for seed in args.seed:
            ratio, s = run(path, args.nodes, seed, args.inflate, args.bound)
            worst = min(worst, 100 * ratio)
            print(f"{path.stem:<28} {seed:>4} {s['pods']:>6} {s['placed']:>6} "
                  f"{s['cpu_only_placed']:>7}/{s['cpu_only']:<7} {s['seconds']:>6.1f} {100 * ratio:>11.2f}"
                  + (f" {s['bound']:>8.2f}" if args.bound else ""))
    print(f"lowest GPU allocation ratio: {worst:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
