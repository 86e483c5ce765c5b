"""The Dask engine gives the same profiles as the local engine (LocalCluster, 2 workers)."""

import pandas as pd
import pytest

from optimizer.profiles import compute_profiles
from tests.profiles.datagen import container_row, gpu_row, pod_row, write

pytest.importorskip("distributed")


def test_dask_local_cluster_matches_local_engine(tmp_path):
    from distributed import Client, LocalCluster

    rows, crows = [], []
    for day in range(2):
        for i in range(1, 200):
            t = day * 86_400 + 43_000 + i * 10.0
            for n in range(3):
                rows.append(gpu_row(t, f"n{n}", f"g{n}", pod=f"p{n}", util=(i * (n + 1)) % 100 / 100, mem=i * 2**24))
                crows.append(container_row(t, f"n{n}", f"p{n}", "main", cpu=0.01 * (i % 50), mem=2**30))
    write(tmp_path, "gpu", rows)
    write(tmp_path, "container", crows)
    write(tmp_path, "pods", [pod_row(f"n{n}", f"p{n}", "Deployment", "web" if n else "db") for n in range(3)])
    local = compute_profiles(str(tmp_path), threads=1).to_frame()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        distributed = compute_profiles(str(tmp_path), engine="dask", scheduler=cluster.scheduler_address).to_frame()
        with Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
    pd.testing.assert_frame_equal(distributed, local)
    assert len(local) == 10  # 2 workloads x 5 metrics (no sm_active data)
