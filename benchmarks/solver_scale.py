"""Solver at scale: 1 k, 5 k and 10 k pods over the full bundled catalog (the project's targets: 10 k pods
≤ 60 s, cost ≤ 1 % above the lower bound, never above first-fit-decreasing).

The pods are a seeded synthetic cluster shaped like a real AI platform: replicated CPU services, GPU
inference pinned to memory-sufficient GPU models, time-sliced GPU shares, MIG slices, and multi-GPU
training jobs that tolerate spot. Usage:

    python benchmarks/solver_scale.py [--sizes 1000 5000 10000] [--seed 1] [--workers 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from optimizer.solver import PodSpec, SolverOptions, solve  # noqa: E402
from optimizer.solver.adapter import node_types_from_catalog  # noqa: E402

GIB = 1024**3
MIB = 1024**2
BIG_GPUS = frozenset({"A100-80GB", "H100-80GB", "H200", "A100-40GB"})
INFER_GPUS = frozenset({"L4", "A10G", "L40S", "T4"})


def synthetic_pods(n: int, seed: int) -> list[PodSpec]:
    """Workloads with 1–12 identical replicas until ``n`` pods exist."""
    rng = random.Random(seed)
    pods: list[PodSpec] = []
    w = 0
    while len(pods) < n:
        w += 1
        kind = rng.choices(["cpu", "infer", "share", "mig", "train", "multi"], [45, 20, 12, 8, 5, 10])[0]
        replicas = 1 if kind == "train" else rng.randint(1, 12)
        spot = kind in ("train", "multi") or rng.random() < 0.3
        group = f"ns{w % 40}/w{w}"
        frac = 1.0 if kind in ("train", "multi") else 0.5
        if kind == "cpu":
            cpu = rng.choice([0.25, 0.5, 1, 2, 4, 8, 16])
            spec = dict(cpu=cpu, mem=int(cpu * rng.choice([1, 2, 4, 8]) * GIB))
        elif kind == "infer":
            need = rng.choice([8, 16, 20, 40, 70])
            models = INFER_GPUS | BIG_GPUS if need <= 20 else BIG_GPUS | {"L40S"}
            spec = dict(cpu=rng.choice([2, 4, 8]), mem=rng.choice([8, 16, 32]) * GIB, gpus=1,
                        gpu_models=frozenset(models), gpu_memory_min=int(need * GIB * 1.05))
        elif kind == "share":
            spec = dict(cpu=rng.choice([0.5, 1, 2]), mem=rng.choice([2, 4, 8]) * GIB,
                        gpu_milli=rng.choice([250, 500]), gpu_models=frozenset({rng.choice(["L4", "A10G", "T4"])}))
        elif kind == "mig":
            spec = dict(cpu=rng.choice([1, 2, 4]), mem=rng.choice([4, 8, 16]) * GIB,
                        mig_profile=rng.choice(["1g.10gb", "2g.20gb", "3g.40gb"]),
                        gpu_models=frozenset({rng.choice(["A100-80GB", "H100-80GB"])}))
        elif kind == "train":
            g = rng.choice([4, 8])
            spec = dict(cpu=g * 10, mem=g * 100 * GIB, gpus=g,
                        gpu_models=frozenset({rng.choice(["A100-40GB", "A100-80GB", "H100-80GB"])}))
        else:
            g = rng.choice([2, 4])
            spec = dict(cpu=g * 4, mem=g * 24 * GIB, gpus=g, gpu_models=frozenset(INFER_GPUS - {"T4"}))
        for r in range(replicas):
            if len(pods) >= n:
                break
            pods.append(PodSpec(f"w{w}-{r}", spot_ok=spot, group=group, max_spot_fraction=frac, **spec))
    return pods


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2, help="CP-SAT workers (the machine's cores)")
    ap.add_argument("--stage1-time", type=float, default=30.0)
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args(argv)

    from optimizer.catalog import Catalog

    catalog = Catalog.load()
    types = node_types_from_catalog(catalog, region=args.region)
    print(f"catalog {catalog.snapshot_date}: {len(types)} (type, market) options in {args.region}")
    print(f"{'pods':>6} {'classes':>7} {'types':>5} {'time s':>7} {'cost $/h':>10} {'bound $/h':>10} "
          f"{'gap %':>6} {'FFD $/h':>10} {'vs FFD %':>8} {'method':>9} stage1")
    for n in args.sizes:
        pods = synthetic_pods(n, args.seed)
        t0 = time.perf_counter()
        r = solve(pods, types, SolverOptions(stage1_time_s=args.stage1_time, num_workers=args.workers,
                                             seed=args.seed))
        wall = time.perf_counter() - t0
        assert not r.unplaced, r.unplaced
        print(f"{n:>6} {r.classes:>7} {r.candidate_types:>5} {wall:>7.1f} {r.cost:>10.2f} {r.lower_bound:>10.2f} "
              f"{100 * r.gap:>6.2f} {r.ffd_cost:>10.2f} {100 * (r.ffd_cost - r.cost) / r.ffd_cost:>8.1f} "
              f"{r.method:>9} {r.stage1_status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
