"""Tunable defaults of the optimizer, in one documented place.

Every number that changes a recommendation lives here as a field of a frozen dataclass, with the
reason for its default next to it. The recommender's YAML config file maps onto these sections; code
never hard-codes a threshold of its own. A section is constructed with keyword overrides, e.g.
``ProfileConfig(idle_threshold=0.02)`` or ``DemandConfig(min_history_hours=12)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from optimizer.llm.config import LlmConfig

MIB = 1024**2
GIB = 1024**3

PRODUCTION = "production"
EXPERIMENTAL = "experimental"
BACKGROUND = "background"
VALUE_CLASSES = (PRODUCTION, EXPERIMENTAL, BACKGROUND)


@dataclass(frozen=True)
class ProfileConfig:
    """How utilization profiles are binned and summarised (optimizer/profiles, docs/profiles.md)."""

    utilization_bins: int = 200
    """Linear bins over 0..1 for fraction metrics (gpu_util, sm_active, gpu_activity): 200 gives 0.5 %
    wide bins, so a percentile is at most 0.005 above the exact value. An extra bin holds exact zeros."""

    bytes_min_exp2: int = 20
    """Byte metrics (gpu_mem_bytes, mem_bytes) use log-linear bins from 2**20 (1 MiB) ..."""

    bytes_max_exp2: int = 41
    """... to 2**41 (2 TiB). Values below go to one (0, 1 MiB) bin, above to an overflow bin whose
    percentile is the exact observed maximum."""

    cores_min_exp2: int = -10
    """CPU cores use log-linear bins from 2**-10 (0.00098 cores, one millicore) ..."""

    cores_max_exp2: int = 10
    """... to 2**10 (1024 cores)."""

    log_sub_bins: int = 64
    """Bins per octave (power of two) in log-linear schemes: each bin is at most 1/64 = 1.56 % of its
    lower edge wide, under the 2 % relative error that right-sizing memory needs. Must be a power of
    two (the bulk kernel reads the bin from the float's mantissa bits)."""

    idle_threshold: float = 0.05
    """A GPU activity sample below this fraction (5 % SM activity or utilization) counts as idle: the
    idle fraction, duty cycle and burst statistics all use it."""

    cpu_idle_threshold_cores: float = 0.05
    """A CPU sample below this many cores (50 millicores) counts as idle for cpu_cores."""

    run_gap_factor: float = 0.5
    """Consecutive samples of one series belong to the same run when the next one starts no later than
    this fraction of its interval after the previous one ended; a longer gap (missing data, a pod that
    stopped) ends the run."""

    timezone: str = "UTC"
    """Time zone (IANA name) of the 168-bin hour-of-week profile; Monday 00:00 is bin 0."""


DEFAULT_PROFILE_CONFIG = ProfileConfig()


@dataclass(frozen=True)
class LabelConfig:
    """Which pod labels carry the attribution dimensions of a workload (its newest pod's labels)."""

    team: str = "team"
    """Label naming the owning team."""

    project: str = "project"
    """Label naming the project ..."""

    project_fallback: str | None = "app.kubernetes.io/part-of"
    """... and the label used for it when that one is missing (the Kubernetes recommended label)."""

    use_case: str = "use-case"
    """Label naming the use case (e.g. inference, training)."""

    def attribution(self, labels: dict) -> tuple[str | None, str | None, str | None]:
        """(team, project, use_case) from a workload's labels; None where unlabeled."""
        labels = labels or {}
        project = labels.get(self.project) or (labels.get(self.project_fallback) if self.project_fallback else None)
        return labels.get(self.team) or None, project or None, labels.get(self.use_case) or None


@dataclass(frozen=True)
class ValueClassPolicy:
    """How one value class is treated (docs/recommendations.md, Policies per value class). Memory needs are a percentile of observed use times
    (1 + headroom); compute need is the activity percentile divided by the target utilization."""

    mem_percentile: str
    """Which percentile of GPU memory use sizes GPU memory: p99 for production (a rare peak must not
    OOM a user-facing service), p95 for the rest (a restart is acceptable)."""

    mem_headroom: float
    """Fraction added on top of that percentile: 20 % for production, 10 % otherwise."""

    activity_percentile: str
    """Which percentile of GPU activity (SM active, else utilization) sizes compute."""

    target_utilization: float
    """The highest activity the proposed GPU share may run at: 60 % for production leaves room for
    load spikes and latency; 80 % experimental; 90 % background (throughput, not latency)."""

    spot_allowed: bool
    """Whether spot capacity may be proposed at all."""

    spot_preferred: bool
    """Whether every replica may go to spot (else at most ``max_spot_fraction_replicated`` of a
    replicated workload's pods, to bound the blast radius of one interruption wave)."""

    scale_to_zero_allowed: bool
    """Whether scale-to-zero may be proposed (never for production: cold starts hit users)."""

    reclaim_idle_allowed: bool
    """Whether a GPU idle most of the window may be taken away. Production services that run at low
    activity are serving, so they get a smaller shape (MIG slice, share, cheaper GPU) instead."""

    mem_peak_margin: float = 0.05
    """GPU memory is also kept this fraction above the observed maximum: a proposed slice, share or GPU
    has at least max(percentile × (1 + headroom), observed max × (1 + peak margin)). The percentile
    sizes the usual load; the margin over the maximum covers the peak the window did not show (allocator
    fragmentation, a longer prompt, a bigger batch). 10 % for production, 5 % otherwise."""

    peak_check: bool = False
    """Whether the busiest sample interval's compute need (peak activity × the pod's GPUs) must fit in the
    proposed slice, share or GPU at 100 %. On for production: a slice that holds the 95th percentile at
    the target but not the peak queues requests in the busiest minutes."""

    max_latency_factor: float | None = None
    """A move to another GPU model states the expected per-request latency factor (1 ÷ the new model's
    relative throughput: a compute-bound request takes that many times as long) and is refused above this
    factor; None: never refused for it (the factor is still stated). 1.25 for production."""


def _default_policies() -> dict[str, ValueClassPolicy]:
    return {
        PRODUCTION: ValueClassPolicy("p99", 0.20, "p95", 0.60, False, False, False, False,
                                     mem_peak_margin=0.10, peak_check=True, max_latency_factor=1.25),
        EXPERIMENTAL: ValueClassPolicy("p95", 0.10, "p95", 0.80, True, False, True, True, mem_peak_margin=0.05),
        BACKGROUND: ValueClassPolicy("p95", 0.10, "p95", 0.90, True, True, True, True, mem_peak_margin=0.05),
    }


@dataclass(frozen=True)
class ValueClassConfig:
    """Where a workload's value class comes from: its label, else inferred from kind and namespace."""

    label_key: str = "rightsizer.io/value-class"
    """Pod label naming the class (production | experimental | background); wins over inference."""

    background_kinds: tuple[str, ...] = ("Job", "CronJob")
    """Workload kinds inferred as background when unlabeled: batch work nobody waits on interactively."""

    experimental_namespace_pattern: str = (
        r"(^|[-_.])(dev|test|testing|sandbox|staging|playground|scratch)([-_.]|$)")
    """Unlabeled workloads in namespaces matching this regex (case-insensitive) are experimental: one of
    dev, test, testing, sandbox, staging, playground or scratch as a whole word of the name, delimited by
    the start/end or ``-``, ``_``, ``.`` (so ``team-dev`` matches, ``devices`` does not). Everything else
    unlabeled is production (the safe default: least aggressive). The recommendations and the cost
    allocation both infer through ``optimizer.valueclass.infer_value_class``."""

    policies: dict[str, ValueClassPolicy] = field(default_factory=_default_policies)


@dataclass(frozen=True)
class DemandConfig:
    """Turning profiles into needs, following the conventions of the Kubernetes VPA recommender and of KRR
    (Robusta's Kubernetes Resource Recommender)."""

    min_history_hours: float = 6.0
    """Below this much observed time no downsizing is proposed at all (KRR requires 3 h; GPU workloads
    have longer cycles, so twice that)."""

    full_confidence_days: float = 7.0
    """Confidence grows linearly with history and reaches 1 at a full week (VPA: a week of history
    narrows its bounds to ×1.14), so weekly patterns are seen at least once."""

    full_confidence_samples: int = 2000
    """... and with the sample count (KRR wants >= 100 points; at a 5-minute step a week is ~2,000).
    Confidence is the smaller of the two ratios."""

    cpu_percentile: str = "p95"
    """CPU request = this percentile of per-container CPU use (KRR's simple strategy) ..."""

    cpu_margin: float = 0.15
    """... times 1 + this margin (VPA's safety margin)."""

    mem_margin: float = 0.15
    """Memory request = max working set × (1 + this) (KRR: +15 %); memory is never sized by percentile:
    exceeding it is an OOM kill, not a slowdown."""

    min_cpu_cores: float = 0.025
    """Floor of a proposed container CPU request (VPA pod minimum 25 millicores)."""

    min_mem_bytes: int = 64 * MIB
    """Floor of a proposed container memory request."""

    cpu_round_cores: float = 0.05
    """CPU requests are rounded up to this step (50 millicores) so the YAML reads like a human's."""

    mem_round_bytes: int = 64 * MIB
    """Memory requests are rounded up to this step."""


@dataclass(frozen=True)
class DecisionConfig:
    """Thresholds of the individual actions (optimizer/decisions)."""

    min_monthly_savings: float = 10.0
    """A recommendation saving less than this many USD a month is not worth an engineer's review."""

    rightsize_min_reduction: float = 0.25
    """rightsize-requests only when CPU or memory requests drop by at least this fraction (KRR calls
    a change below 0.25 cores / 250 MiB merely a warning); smaller gaps are noise in the margin."""

    rightsize_min_cpu_cores: float = 0.25
    """... and by at least this many cores (CPU) ..."""

    rightsize_min_mem_bytes: int = 256 * MIB
    """... or this many bytes (memory)."""

    idle_gpu_fraction: float = 0.95
    """reclaim-idle-gpu: a pod whose GPUs are idle (activity under the profile idle threshold) at least
    this share of the window is holding a GPU for nothing."""

    share_gpu_max_activity: float = 0.30
    """share-gpu: only workloads whose activity percentile stays under this (of the whole GPU) ..."""

    share_gpu_fractions: tuple[float, ...] = (0.25, 0.5)
    """... get a time-slicing share from these; the smallest that covers compute and memory need."""

    change_min_savings_fraction: float = 0.15
    """change-instance-type / use-mig-slice / share-gpu: the new shape must be at least this much
    cheaper than the current one (moving a service is work and risk)."""

    mig_models: tuple[str, ...] = ("A100-40GB", "A100-80GB", "H100-80GB", "H200")
    """GPU models on which MIG slices are proposed."""

    spot_kinds: tuple[str, ...] = ("Job", "CronJob")
    """Kinds eligible for use-spot (restartable batch work) ..."""

    spot_training_pattern: str = r"train|fine-?tun|pretrain|sweep|hyperparameter"
    """... plus workloads whose use-case/project/name matches this (training-like)."""

    checkpoint_annotation: str = "rightsizer.io/checkpoint-interval"
    """Label/annotation giving a workload's checkpoint interval ("30m", "2h", or minutes) for the spot
    rework cost. Without it the interval is assumed and use-spot is medium risk at best."""

    checkpoint_annotation_aliases: tuple[str, ...] = ("rightsizer.io/checkpoint-interval-minutes",)
    """Older keys read too (minutes)."""

    default_checkpoint_interval_h: float = 1.0
    """Checkpoint interval assumed when none is given: one hour (common trainer default cadence)."""

    max_spot_fraction_replicated: float = 0.5
    """For replicated services that may use spot, at most this share of replicas on spot (blast radius)."""

    scale_to_zero_max_duty_cycle: float = 0.30
    """scale-to-zero: the GPU is busy at most this share of the time ..."""

    scale_to_zero_min_idle_run_h: float = 1.0
    """... and has idle stretches at least this long (else scale-down thrashes) ..."""

    scale_to_zero_kinds: tuple[str, ...] = ("Deployment",)
    """... and it is a service kind a KEDA/Knative scaler can drive."""

    cold_start_s: float = 180.0
    """Cold start paid per burst when scaled from zero: node provisioning + image pull + model load."""

    scale_to_zero_idle_timeout_s: float = 600.0
    """Time kept warm after the last request before scaling to zero: the cost's cool-down and the YAML's
    KEDA ``cooldownPeriod`` / HTTP add-on ``scaledownPeriod`` (one number, so they cannot disagree)."""

    model_load_bytes_per_s: float = 1.0 * GIB
    """The cold start adds the model's weights (the observed GPU memory maximum) loaded at this rate on
    top of ``cold_start_s``: ~1 GiB/s from a local NVMe cache or a same-region object store."""

    cron_max_hours: int = 20
    """A KEDA cron trigger is proposed only for regular busy hours, at most this many a day."""

    notebook_pattern: str = r"notebook|jupyter"
    """Workloads whose name, use case or a label value matches this are notebooks: idle culling, never an
    HTTP or cron trigger (a notebook exports no request metric to wake it)."""

    replicas_kinds: tuple[str, ...] = ("Deployment", "StatefulSet")
    """set-replicas: workloads of these kinds (a replica count or an autoscaler's minimum to set) whose pods
    hold GPUs, with at least two pods in the window."""

    replicas_bucket_s: float = 300.0
    """set-replicas: replicas busy at the same time are counted per bucket of this many seconds (a replica
    busy in any sample of a bucket counts as busy for all of it; must divide a day)."""

    replicas_spare_production: int = 1
    """set-replicas: replicas a production workload keeps beyond the most ever busy at once (N + 1)."""

    replicas_min_production: int = 2
    """set-replicas: a production workload never goes below this many replicas (one node or zone lost
    leaves one serving)."""

    replicas_memory_bound_fraction: float = 0.8
    """set-replicas: replicas whose GPU memory in use (the class's percentile) is at least this fraction of
    their GPUs' memory cannot take each other's load (an LLM server's KV cache is full): only the replicas
    that were idle go, the load is not packed onto fewer."""


@dataclass(frozen=True)
class RiskConfig:
    """The one risk rule of every recommendation, workload, node and cluster ones alike
    (docs/recommendations.md, Risk): the higher of the confidence band and the floor of the consequence
    of being wrong, and for a production downsizing on a short history, at least medium."""

    low_risk_confidence: float = 0.7
    """Confidence at or above this is the low band ..."""

    medium_risk_confidence: float = 0.35
    """... at or above this the medium band, below it the high band."""

    daily_cycle_hours: float = 20.0
    """A production downsizing seen over less than one daily cycle is at least medium risk. 20 h, not 24:
    a day's data starts with the first sample and ends one interval short, and a 20-h history has seen
    the daily peak of nearly every service."""

    weekly_cycle_hours: float = 144.0
    """A production downsizing seen over less than a weekly cycle says so in its rationale (confidence
    already grows with history and reaches 1 only at ``DemandConfig.full_confidence_days``). 144 h = six
    days: a week's window cut at both ends still counts."""


@dataclass(frozen=True)
class SolverConfig:
    """The consolidation solve (optimizer/solver, docs/solver.md)."""

    stage1_time_s: float = 20.0
    pattern_time_s: float = 10.0
    """Time for the pattern model that packs pods without GPUs onto nodes without GPUs (column
    generation with a proven bound, then whole node counts); 0 leaves them to the general stages."""
    num_workers: int = 8
    seed: int = 0
    max_candidates_per_class: int | None = None
    allow_burstable: bool = False
    """Whether the node plan may use burstable families (t2, t3, t3a, t4g). Off: their CPU runs on
    credits, and a node that runs out is throttled to a fraction of a vCPU, which a packing that fills
    its requests would hit. Node capacity is the catalog's allocatable less the DaemonSets observed
    (docs/solver.md, Capacity); there is no reservation setting of its own."""
    arch_label: str = "rightsizer.io/arch"
    """Pod label that says which CPU architectures a workload's images run on: ``any``, or a comma list
    of ``amd64``/``x86_64``/``arm64``. Without it pods stay on the architecture of the nodes they ran on."""
    multi_arch_images: bool = False
    """True: every image in the cluster is multi-arch, so any pod may move to x86_64 or arm64 nodes
    (as if each had ``rightsizer.io/arch: any``)."""
    gpu_nodes_tainted: bool = True
    """GPU nodes carry the usual ``nvidia.com/gpu:NoSchedule`` taint (EKS GPU AMIs, Karpenter GPU pools,
    the GPU operator's guidance), so pods without GPUs are not placed on them."""
    allow_spot_in_consolidation: bool = True
    """Whether consolidation may put spot-eligible pods on spot nodes."""


@dataclass(frozen=True)
class OptimizerConfig:
    """Everything ``build_recommendations`` needs."""

    region: str = "us-east-1"
    labels: LabelConfig = field(default_factory=LabelConfig)
    value_class: ValueClassConfig = field(default_factory=ValueClassConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)
    decisions: DecisionConfig = field(default_factory=DecisionConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)  # KV-aware sizing, managed-API comparison


DEFAULT_OPTIMIZER_CONFIG = OptimizerConfig()


# the check of every setting (optimizer/config_check.py), imported from here by the recommender and tests
from optimizer.config_check import ConfigValueError, check_config  # noqa: E402, F401
