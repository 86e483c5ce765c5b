"""Ingest from outside sources into a format v1 dataset (today: Prometheus-compatible servers)."""
