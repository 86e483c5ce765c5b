"""LLM serving economics: tokens served, their cost, KV-cache-aware sizing, managed-API candidates."""
