"""The ``tokens`` table from the LLM servers' own series: vLLM, SGLang, TGI, NIM and Triton's vLLM backend.

``catalog`` says which series fill which column, ``discovery`` what the server has, ``counters`` turns
cumulative counters into per-interval increments, ``tokens`` queries and builds the rows of one chunk.
"""

from importers.prometheus.llm.discovery import LlmDialect, LlmDiscovery, discover_llm
from importers.prometheus.llm.tokens import build, queries

__all__ = ["LlmDialect", "LlmDiscovery", "build", "discover_llm", "queries"]
