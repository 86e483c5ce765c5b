import pytest

from agent.config import AgentConfig
from agent.gpu.fake import FakeNvml
from agent.gpu.nvml import NvmlBackend
from agent.loop import Agent
from tests.agent.fakes import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_agent(tmp_path, clock):
    """An agent on the fake NVML without Kubernetes; keyword arguments override AgentConfig fields."""
    made = []

    def make(scenario="mixed", *, sink_location=None, kube_api=None, **overrides):
        cfg = dict(node_name="gpu-node-1", sink=str(tmp_path / "sink"), spool_dir=str(tmp_path / "spool"),
                   kubernetes=False, proc_root=str(tmp_path / "proc"), cgroup_root=str(tmp_path / "cgroup"),
                   pod_resources_socket=str(tmp_path / "kubelet.sock"), flush_interval_s=1e9)
        cfg.update(overrides)
        agent = Agent(AgentConfig(**cfg), gpu=NvmlBackend(FakeNvml(scenario, clock=clock), clock=clock),
                      clock=clock, sink_location=sink_location, kube_api=kube_api)
        made.append(agent)
        return agent

    yield make
    for a in made:
        a._stop_threads.set()
