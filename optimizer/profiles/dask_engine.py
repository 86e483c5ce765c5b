"""Run the partition map on a dask.distributed cluster and merge the states (``--engine dask``).

Map: one task per (table, date, node) partition; the worker reads its partition from the dataset root
(a local path every worker can see, or s3://) and returns the partition's ProfileState serialized as
npz bytes. Reduce: the client merges the states in (table, date, node) order -- the same order as the
local engine, so both engines give bit-identical results -- releasing each result once merged. Install
with ``pip install 'rightsizer[dask]'``.
"""

from __future__ import annotations

from store.errors import UserError
from store.reader import Dataset


def _map_partition(root: str, table: str, date: str, node: str, settings) -> bytes:
    from optimizer.profiles.stream import partition_state, read_partition

    dataset = Dataset(root)
    data = read_partition(dataset, table, date, node, settings.start, settings.end)
    return partition_state(table, data, settings).to_bytes()


def run_dask(dataset: Dataset, settings, *, scheduler: str | None = None, progress=None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--engine dask needs dask.distributed: pip install 'rightsizer[dask]'") from None
    from optimizer.profiles.state import ProfileState
    from optimizer.profiles.stream import list_partitions

    loc = dataset.location
    root = loc.uri if loc.is_s3 else loc.base  # workers open the root themselves
    jobs = [(t, d, n) for t in ("gpu", "container") if settings.reads(t)
            for d, n in list_partitions(dataset, t, settings.start, settings.end)]
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        raise UserError(f"--scheduler: cannot reach dask scheduler '{scheduler}' ({exc})") from None
    state = ProfileState(settings.entity)
    try:
        if progress is not None:
            progress.start(len(jobs))
        futures = [client.submit(_map_partition, root, *job, settings, pure=False) for job in jobs]
        for job, fut in zip(jobs, futures, strict=True):
            state.merge(ProfileState.from_bytes(fut.result()))
            fut.release()
            if progress is not None:
                progress.advance(f"{job[0]} {job[1]} {job[2]}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return state
