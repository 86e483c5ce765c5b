"""``rightsizer import prometheus``: a format v1 dataset from the history a Prometheus-compatible server keeps.

dcgm-exporter series become the gpu table, the kubelet's cAdvisor series the container table, and
kube-state-metrics the pods and nodes tables (docs/prometheus.md says which query fills which column).

    from importers.prometheus import ImportConfig, run_import
    from importers.prometheus.client import ClientConfig
    run_import(ImportConfig(ClientConfig("http://prometheus:9090"), start, end, "./data"))
"""

from importers.prometheus.run import ImportConfig, ImportResult, run_import

__all__ = ["ImportConfig", "ImportResult", "run_import"]
