"""One small module per action; ``WORKLOAD_DECISIONS`` lists the per-workload ones in the order they run.

Each is ``decide(workload, demand, context) -> Candidate | None``; ``resolve`` makes one proposal per
workload out of them; ``reclaim_idle.unallocated`` and ``consolidate.decide`` work on nodes and on the
cluster.
"""

from optimizer.decisions import (
    gpu_shape,
    managed_api,
    reclaim_idle,
    replica_count,
    rightsize_requests,
    scale_to_zero,
    spot,
)

WORKLOAD_DECISIONS = (
    rightsize_requests.decide,
    gpu_shape.change_instance_type,
    gpu_shape.mig_slice,
    gpu_shape.share_gpu,
    spot.decide,
    scale_to_zero.decide,
    reclaim_idle.decide,
    managed_api.decide,
    replica_count.decide,
)

ACTIONS = ("rightsize-requests", "change-instance-type", "use-mig-slice", "share-gpu", "use-spot",
           "scale-to-zero", "reclaim-idle-gpu", "use-managed-api", "consolidate-nodes", "set-replicas")
