"""Workload behaviours: who runs what, with which requests, and how its load moves over time.

Each ``Template`` is one kind of workload the optimizer must treat in a known way (its ``expected_actions``
is the ground truth written to truth.json). Requests of every workload except ``cpu-oversized`` are set
about 20 % above what the containers really use, so that no other action than the expected one applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.llm import LLAMA_31_8B, LlmServing
from simulator.shapes import GIB, MIB


@dataclass(frozen=True)
class ContainerTemplate:
    name: str
    image: str
    cpu_request: float  # cores
    mem_request: int  # bytes
    cpu_limit: float | None = None
    mem_limit: int | None = None  # None: same as the request (memory is not compressible)
    gpu: int = 0  # whole GPUs (nvidia.com/gpu); only on the main container
    # Use as a fraction of the request, at load 0 and at load 1 (see GpuLoad.load).
    cpu_use: tuple[float, float] = (0.8, 0.82)
    mem_use: tuple[float, float] = (0.8, 0.82)
    args: tuple[str, ...] = ()  # the container's command-line arguments in the manifest


@dataclass(frozen=True)
class GpuLoad:
    """How a pod's GPUs follow the pod-level load a(t) in 0..1."""

    util: tuple[float, float]  # gpu_util at load 0 and load 1
    mem: tuple[float, float]  # GPU memory used, fraction of device capacity, at load 0 and 1
    mem_abs: tuple[int, int] | None = None  # absolute bytes instead of fractions (small models on big GPUs)
    sm_k: float = 0.7  # sm_active / gpu_util (Hopper only)
    tensor_k: float = 0.4  # tensor_active / sm_active
    dram_k: float = 0.5  # dram_active / gpu_util


@dataclass(frozen=True)
class Template:
    behaviour: str
    expected_actions: tuple[str, ...]
    kind: str  # Deployment | StatefulSet | Job | CronJob
    namespace: str
    names: tuple[str, ...]
    team: str
    project: str
    use_case: str
    value_class_label: str | None  # rightsizer.io/value-class on the pods; None: left to inference
    containers: tuple[ContainerTemplate, ...]
    pattern: str = "flat"  # pod-level load a(t): flat | diurnal | training | sessions | bursts (signals.py)
    gpu: GpuLoad | None = None
    schedule: str | None = None  # CronJob
    run_minutes: int = 0  # CronJob: how long each run lasts
    every_minutes: int = 0  # CronJob: minutes between runs (must match schedule)
    teams: tuple[str, ...] = field(default=())  # cycle of teams (notebooks belong to many teams)
    alt_value_class_label: str | None = None  # every other instance carries this label instead
    llm: LlmServing | None = None  # an LLM server: its pods write the tokens table (simulator/llm.py)
    # the optimizer feature the expected action relies on (truth.json ``requires``; simulator/score.py)
    requires: str | None = None


def _sidecar() -> ContainerTemplate:
    return ContainerTemplate("metrics-exporter", "prom/statsd-exporter:v0.28.0", 0.1, 128 * MIB,
                             cpu_limit=0.2, cpu_use=(0.8, 0.82), mem_use=(0.8, 0.81))


# Over-provisioned: a few GB on an 80 GB GPU and SM activity around 7-11 % (busy enough not to count as idle,
# small enough for a MIG slice, a shared GPU or a smaller GPU model).
OVERPROV_H100 = Template(
    "overprovisioned-inference", ("change-instance-type", "use-mig-slice", "share-gpu"), "Deployment", "search",
    ("embed-api", "rerank-api", "query-embed", "doc-embed", "passage-rank"), "search", "semantic-search",
    "embeddings", "production",
    (ContainerTemplate("server", "ghcr.io/huggingface/text-embeddings-inference:1.6", 2.0, 8 * GIB, cpu_limit=4.0,
                       gpu=1, cpu_use=(0.45, 0.82)),),
    pattern="diurnal", gpu=GpuLoad((0.11, 0.18), (0.0, 0.0), mem_abs=(int(5.0 * GIB), int(6.0 * GIB)), sm_k=0.6,
            tensor_k=0.3, dram_k=0.4),
)
OVERPROV_A100 = Template(
    "overprovisioned-inference", ("change-instance-type", "use-mig-slice", "share-gpu"), "Deployment", "vision",
    ("nsfw-filter", "image-tagger", "logo-detect", "scene-classify"), "vision", "content-moderation",
    "image-classification", None,
    (ContainerTemplate("classifier", "nvcr.io/nvidia/tritonserver:24.12-py3", 2.0, 8 * GIB, cpu_limit=4.0, gpu=1,
                       cpu_use=(0.45, 0.82)), _sidecar()),
    pattern="diurnal", gpu=GpuLoad((0.07, 0.13), (0.0, 0.0), mem_abs=(int(4.2 * GIB), int(5.4 * GIB))),
)
WELL_SIZED_H100 = Template(
    "well-sized-serving", (), "Deployment", "assistant",
    ("chat-api", "assist-api", "agent-api", "support-bot"), "assistant", "chat", "chat-inference", "production",
    (ContainerTemplate("vllm", "vllm/vllm-openai:v0.7.3", 8.0, 48 * GIB, cpu_limit=12.0, gpu=1,
                       cpu_use=(0.3, 0.84), mem_use=(0.74, 0.82)), _sidecar()),
    pattern="diurnal", gpu=GpuLoad((0.22, 0.9), (0.72, 0.82), sm_k=0.82, tensor_k=0.55, dram_k=0.6),
)
WELL_SIZED_T4 = Template(
    "well-sized-serving", (), "Deployment", "vision", ("ocr-api", "thumbnail-api", "receipt-ocr"), "vision",
    "ocr", "ocr-inference", "production",
    (ContainerTemplate("server", "nvcr.io/nvidia/tritonserver:24.12-py3", 2.0, 6 * GIB, cpu_limit=3.0, gpu=1,
                       cpu_use=(0.3, 0.84), mem_use=(0.74, 0.82)),),
    pattern="diurnal", gpu=GpuLoad((0.2, 0.88), (0.74, 0.84)),
)
MEMBOUND_A100 = Template(
    "memory-bound-inference", (), "Deployment", "assistant",
    ("summarize-70b", "rag-generator", "long-context-qa", "doc-qa"), "assistant", "summarize", "llm-inference",
    "production",
    (ContainerTemplate("vllm", "vllm/vllm-openai:v0.7.3", 4.0, 32 * GIB, cpu_limit=8.0, gpu=1,
                       cpu_use=(0.5, 0.82), mem_use=(0.78, 0.82)),),
    pattern="diurnal", gpu=GpuLoad((0.1, 0.26), (0.915, 0.935), dram_k=0.8),
)
MEMBOUND_L40S = Template(
    "memory-bound-inference", (), "Deployment", "assistant", ("code-assist-13b", "sql-copilot", "pr-review-bot"),
    "assistant", "code-assist", "llm-inference", "production",
    (ContainerTemplate("vllm", "vllm/vllm-openai:v0.7.3", 2.0, 12 * GIB, cpu_limit=3.0, gpu=1,
                       cpu_use=(0.5, 0.82), mem_use=(0.78, 0.82)),),
    pattern="diurnal", gpu=GpuLoad((0.12, 0.3), (0.91, 0.93), dram_k=0.8),
)
TRAINING_A100 = Template(
    "training", ("use-spot",), "Job", "research",
    ("llm-pretrain", "reward-model-train", "continued-pretrain", "vision-encoder-train"), "research",
    "foundation-models", "pretraining", None,
    (ContainerTemplate("trainer", "nvcr.io/nvidia/pytorch:24.12-py3", 48.0, 600 * GIB, gpu=8,
                       cpu_use=(0.75, 0.82), mem_use=(0.8, 0.82)),),
    pattern="training", gpu=GpuLoad((0.05, 0.96), (0.92, 0.93), sm_k=0.88, tensor_k=0.7, dram_k=0.55),
    alt_value_class_label="experimental",
)
SPIKE_SWEEP = Template(
    "training", ("use-spot",), "Job", "research", ("hparam-sweep",), "research", "foundation-models",
    "hyperparameter-search", "experimental",
    TRAINING_A100.containers, pattern="training", gpu=TRAINING_A100.gpu,
)
NOTEBOOK_A10G = Template(
    "idle-notebook", ("reclaim-idle-gpu",), "StatefulSet", "sandbox",
    ("nb-alice", "nb-bob", "nb-chen", "nb-dana", "nb-eli", "nb-farah", "nb-goran"), "search", "exploration",
    "notebook", None,
    (ContainerTemplate("notebook", "quay.io/jupyter/pytorch-notebook:cuda12-2024-12-23", 0.1, 3 * GIB,
                       cpu_limit=2.0, mem_limit=6 * GIB, gpu=1, cpu_use=(0.8, 8.0), mem_use=(0.8, 0.82)),),
    pattern="sessions", gpu=GpuLoad((0.0, 0.45), (0.28, 0.36)),
    teams=("search", "vision", "assistant"),
)
NOTEBOOK_L40S = Template(
    "idle-notebook", ("reclaim-idle-gpu",), "StatefulSet", "dev-assistant",
    ("nb-hana", "nb-ivan", "nb-jo", "nb-kai"), "assistant", "exploration", "notebook", None,
    NOTEBOOK_A10G.containers, pattern="sessions", gpu=GpuLoad((0.0, 0.4), (0.2, 0.3)),
)
BURSTY_L4 = Template(
    "bursty-inference", ("scale-to-zero",), "Deployment", "search-labs",
    ("query-rewrite", "caption-preview", "doc-classify-beta", "intent-probe"), "search", "query-expansion",
    "llm-inference", "experimental",
    (ContainerTemplate("server", "ghcr.io/huggingface/text-generation-inference:3.0", 1.0, 4 * GIB, cpu_limit=2.0,
                       gpu=1, cpu_use=(0.1, 0.84), mem_use=(0.8, 0.82)),),
    pattern="bursts", gpu=GpuLoad((0.0, 0.72), (0.4, 0.42)),
    # TGI: token counts from its histograms' sums and its request counter, no model label, no KV-cache
    # gauge, no prefill/decode split; traffic only in the bursts
    llm=LlmServing("tgi", LLAMA_31_8B, peak_requests_per_s=2.0, base_share=0.0, prefill_tokens_per_s=4000.0,
                   decode_tokens_per_s=30.0, prefix_cache_share=None, gpu_memory_utilization=None,
                   exports_model=False, exports_kv=False, exports_times=False, exports_prompt_histogram=False),
)

# LLM serving with vLLM: the GPU's memory is pre-allocated (--gpu-memory-utilization 0.9), so NVML shows
# ~90 % used whatever the load; the KV cache the requests really hold is what sizes the GPU.
CHAT_VLLM = LlmServing("vllm", LLAMA_31_8B, peak_requests_per_s=12.5, base_share=0.25,
                       prefill_tokens_per_s=10_000.0, decode_tokens_per_s=60.0, prefix_cache_share=0.3)
# Busy-ish production chat on an 80 GB H100 whose KV cache stays around 15 % of its pool (p99): the
# weights (15 GiB) plus the KV cache it uses fit a 3g.40gb slice or a 48 GB GPU once sized by KV use
# (docs/llm.md); by NVML memory (90 %) it would never be downsized. Its token volume would cost
# more through a managed API than its GPU does, so the GPU-shape change is the answer.
LLM_CHAT_H100 = Template(
    "llm-kv-oversized", ("use-mig-slice", "change-instance-type", "share-gpu"), "Deployment", "genai",
    ("support-chat",), "assistant", "customer-support", "chat", "production",
    (ContainerTemplate("vllm", "vllm/vllm-openai:v0.10.1", 6.0, 40 * GIB, cpu_limit=10.0, gpu=1,
                       cpu_use=(0.3, 0.84), mem_use=(0.74, 0.82), args=tuple(CHAT_VLLM.container_args())),),
    pattern="diurnal", gpu=GpuLoad((0.35, 0.85), (0.895, 0.905), sm_k=0.25, tensor_k=0.5, dram_k=0.5),
    llm=CHAT_VLLM, requires="llm-sizing",
)
DOCS_VLLM = LlmServing("vllm", LLAMA_31_8B, peak_requests_per_s=0.09, base_share=0.2,
                       prefill_tokens_per_s=3_000.0, decode_tokens_per_s=35.0, prefix_cache_share=0.5)
# An internal docs assistant at ~0.05 requests/s on a whole A10G: its ~0.2 B tokens a month cost far less
# through a managed Llama 3.1 8B (Amazon Bedrock, $0.22 per 1M input and output tokens) than the GPU.
LLM_DOCS_A10G = Template(
    "llm-low-volume", ("use-managed-api",), "Deployment", "internal-tools", ("docs-assistant",), "platform",
    "developer-portal", "docs-qa", "production",
    (ContainerTemplate("vllm", "vllm/vllm-openai:v0.10.1", 2.0, 10 * GIB, cpu_limit=3.0, gpu=1,
                       cpu_use=(0.3, 0.84), mem_use=(0.74, 0.82), args=tuple(DOCS_VLLM.container_args())),),
    pattern="diurnal", gpu=GpuLoad((0.12, 0.58), (0.895, 0.905)),
    llm=DOCS_VLLM, requires="llm-sizing",
)
CPU_OVERSIZED = Template(
    "cpu-oversized", ("rightsize-requests",), "Deployment", "data-platform",
    ("feature-backfill", "report-builder", "label-sync", "dedup-worker"), "data-platform", "feature-store",
    "batch-processing", "background",
    (ContainerTemplate("worker", "python:3.12-slim", 4.0, 16 * GIB, cpu_limit=8.0, cpu_use=(0.06, 0.12),
                       mem_use=(0.12, 0.15)),),
    pattern="diurnal",
)
CPU_OVERSIZED_CRON = Template(
    "cpu-oversized", ("rightsize-requests",), "CronJob", "data-platform",
    ("feature-etl", "embedding-refresh", "usage-rollup"), "data-platform", "feature-store", "etl", None,
    (ContainerTemplate("etl", "apache/spark:3.5.4-python3", 6.0, 24 * GIB, cpu_limit=8.0, cpu_use=(0.1, 0.16),
                       mem_use=(0.14, 0.18)),),
    schedule="0 */2 * * *", run_minutes=50, every_minutes=120,
)
WELL_SIZED_CPU = Template(
    "well-sized-serving", (), "Deployment", "data-platform", ("feature-api", "catalog-api", "lineage-api"),
    "data-platform", "feature-store", "api", None,
    (ContainerTemplate("api", "ghcr.io/feast-dev/feature-server:0.42.0", 3.0, 6 * GIB, cpu_limit=4.0,
                       cpu_use=(0.3, 0.84), mem_use=(0.74, 0.82)), _sidecar()),
    pattern="diurnal",
)

# Keeps the CronJob's node busy between runs (a node with no container at all for an hour looks like lost
# samples to `rightsizer validate`, and no real node sits that empty).
WELL_SIZED_CONSUMER = Template(
    "well-sized-serving", (), "Deployment", "data-platform", ("event-consumer", "cdc-consumer", "audit-sink"),
    "data-platform", "feature-store", "stream-processing", "background",
    (ContainerTemplate("consumer", "python:3.12-slim", 1.0, 2 * GIB, cpu_limit=2.0, cpu_use=(0.6, 0.84),
                       mem_use=(0.78, 0.82)),),
    pattern="diurnal",
)


@dataclass(frozen=True)
class Slot:
    """Workloads a recipe puts on its node(s): a template and how many of its pods go on each node."""

    template: Template
    pods_per_node: int


@dataclass(frozen=True)
class Recipe:
    """A group of nodes of one shape and market with the workloads that run on them."""

    name: str
    instance_type: str
    capacity_type: str
    nodes: int
    slots: tuple[Slot, ...]


# One full cycle holds every steady behaviour; the cluster repeats the cycle until it has --nodes nodes.
CYCLE: tuple[Recipe, ...] = (
    Recipe("h100-serving", "p5.48xlarge", "on-demand", 1,
           (Slot(OVERPROV_H100, 2), Slot(WELL_SIZED_H100, 4))),  # + 2 GPUs allocated to nobody
    Recipe("a100-training", "p4d.24xlarge", "on-demand", 1, (Slot(TRAINING_A100, 1),)),
    Recipe("a100-80-inference", "p4de.24xlarge", "on-demand", 1,
           (Slot(MEMBOUND_A100, 4), Slot(OVERPROV_A100, 3))),  # + 1 GPU allocated to nobody
    Recipe("a10g-notebook", "g5.xlarge", "on-demand", 1, (Slot(NOTEBOOK_A10G, 1),)),
    Recipe("l4-bursty", "g6.xlarge", "spot", 1, (Slot(BURSTY_L4, 1),)),
    Recipe("t4-serving", "g4dn.xlarge", "on-demand", 2, (Slot(WELL_SIZED_T4, 1),)),
    Recipe("l40s-memory-bound", "g6e.xlarge", "on-demand", 1, (Slot(MEMBOUND_L40S, 1),)),
    Recipe("cpu-services", "m7i.8xlarge", "on-demand", 1,
           (Slot(CPU_OVERSIZED, 3), Slot(WELL_SIZED_CPU, 2))),
    Recipe("cpu-etl", "m7i.4xlarge", "spot", 1, (Slot(CPU_OVERSIZED_CRON, 1), Slot(WELL_SIZED_CONSUMER, 1))),
    Recipe("l40s-notebook", "g6e.xlarge", "on-demand", 1, (Slot(NOTEBOOK_L40S, 1),)),
)
# LLM serving, added once the whole cycle and the spike fit (--nodes at least min_nodes + their nodes):
# they come last, so the rest of the cluster is the same as without them.
LLM_RECIPES: tuple[Recipe, ...] = (
    Recipe("llm-chat", "p5.4xlarge", "on-demand", 1, (Slot(LLM_CHAT_H100, 1),)),
    Recipe("llm-docs", "g5.xlarge", "on-demand", 1, (Slot(LLM_DOCS_A10G, 1),)),
)
SPIKE_RECIPE = Recipe("spike-sweep", "p4d.24xlarge", "on-demand", 1, (Slot(SPIKE_SWEEP, 1),))
# Share of --nodes that are the spike day's extra nodes (so the spike stays visible at any scale).
SPIKE_NODE_SHARE = 0.09
