"""Device -> container through the kubelet pod-resources API (``List`` on a unix socket).

The socket lives in a hostPath-mounted folder (mount the folder, not the socket, so a kubelet restart
that recreates the socket is picked up). grpc is imported only when the socket exists.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger("rightsizer.agent.podresources")

# Resource names that carry GPU devices (NVIDIA device plugin: whole GPUs, MIG slices, shared replicas).
def is_gpu_resource(name: str) -> bool:
    return name == "nvidia.com/gpu" or name.startswith("nvidia.com/mig-") or name.endswith("/gpu")


@dataclass(frozen=True)
class ContainerRef:
    namespace: str
    pod: str
    container: str
    resource: str


def device_uuid(device_id: str) -> str:
    """``GPU-…::3`` (a time-slicing/MPS replica) -> ``GPU-…``."""
    return device_id.split("::", 1)[0]


class PodResourcesClient:
    """Calls ``List`` and returns ``{device uuid: [ContainerRef, ...]}`` (several on a shared GPU)."""

    def __init__(self, socket_path: str, timeout_s: float = 5.0):
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self._channel = None
        self._stub = None
        self._warned = False

    def available(self) -> bool:
        return os.path.exists(self.socket_path)

    def list_devices(self) -> dict[str, list[ContainerRef]]:
        """Raises OSError when the kubelet cannot be reached (the caller keeps the last good answer)."""
        if not self.available():
            raise OSError(f"pod-resources socket {self.socket_path} does not exist")
        import grpc

        from agent.podresources import api_pb2, api_pb2_grpc

        if self._stub is None:
            self._channel = grpc.insecure_channel(f"unix://{os.path.abspath(self.socket_path)}")
            self._stub = api_pb2_grpc.PodResourcesListerStub(self._channel)
        try:
            resp = self._stub.List(api_pb2.ListPodResourcesRequest(), timeout=self.timeout_s)
        except grpc.RpcError as exc:
            self.close()  # reconnect next time (the kubelet may have restarted)
            raise OSError(f"pod-resources List failed: {exc.code().name}") from None
        out: dict[str, list[ContainerRef]] = {}
        for pr in resp.pod_resources:
            for c in pr.containers:
                for d in c.devices:
                    if not is_gpu_resource(d.resource_name):
                        continue
                    for dev_id in d.device_ids:
                        ref = ContainerRef(pr.namespace, pr.name, c.name, d.resource_name)
                        refs = out.setdefault(device_uuid(dev_id), [])
                        if ref not in refs:
                            refs.append(ref)
        return out

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = None
