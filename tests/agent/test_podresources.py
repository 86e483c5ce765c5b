"""Device -> pod through a real gRPC server speaking pod-resources v1 on a unix socket."""

import pytest

from agent.attribution.podresources import ContainerRef, PodResourcesClient
from tests.agent.fakes import Allocation, PodResourcesServer

GPU_A = "GPU-11111111-2222-3333-4444-555555555555"
MIG_B = "MIG-66666666-7777-8888-9999-000000000000"


@pytest.fixture
def sock(tmp_path):
    return str(tmp_path / "kubelet.sock")


def test_list_maps_gpus_mig_and_shared_replicas(sock):
    allocs = [
        Allocation("ml", "trainer-0", "main", "nvidia.com/gpu", [GPU_A]),
        Allocation("ml", "small", "srv", "nvidia.com/mig-1g.10gb", [MIG_B]),
        Allocation("web", "a", "app", "nvidia.com/gpu", ["GPU-T4::0"]),
        Allocation("web", "b", "app", "nvidia.com/gpu", ["GPU-T4::1"]),
        Allocation("web", "c", "app", "example.com/fpga", ["fpga0"]),
    ]
    with PodResourcesServer(sock, allocs):
        client = PodResourcesClient(sock)
        got = client.list_devices()
        client.close()
    assert got[GPU_A] == [ContainerRef("ml", "trainer-0", "main", "nvidia.com/gpu")]
    assert got[MIG_B] == [ContainerRef("ml", "small", "srv", "nvidia.com/mig-1g.10gb")]
    assert [r.pod for r in got["GPU-T4"]] == ["a", "b"]  # replica suffixes stripped, both pods kept
    assert "fpga0" not in got


def test_missing_socket_is_an_oserror_not_a_crash(sock):
    client = PodResourcesClient(sock)
    assert not client.available()
    with pytest.raises(OSError, match="does not exist"):
        client.list_devices()


def test_kubelet_restart_is_survived(sock):
    allocs = [Allocation("ml", "p", "c", "nvidia.com/gpu", [GPU_A])]
    client = PodResourcesClient(sock, timeout_s=2)
    with PodResourcesServer(sock, allocs):
        assert GPU_A in client.list_devices()
    with pytest.raises(OSError):
        client.list_devices()
    with PodResourcesServer(sock, allocs):
        assert GPU_A in client.list_devices()
    client.close()
