"""Request sizes of a real LLM service: percentiles of the Azure LLM inference trace 2023 (conversation).

Source: Azure/AzurePublicDataset, ``data/AzureLLMInferenceTrace_conv.csv`` (commit 790921015d50dd6aae7f7e47f39ba0e235ad6b08,
sha256 2f1e5b666d4e3055fdbba98598ce2ec307767b9064e03e2fa46676dbcc7d0bf8): 19,366 requests to an LLM
conversation service in Azure on 2023-11-16, 18:15-19:14 UTC (about 5.4 requests/s), the data of
"Splitwise: Efficient generative LLM inference using phase splitting", Patel et al., ISCA 2024.
License: CC-BY 4.0 (attribution: the Splitwise paper above).

Derived here: the 0th, 1st, ..., 100th percentile (inverted CDF: values that occur in the trace) of the
prompt (ContextTokens) and generated (GeneratedTokens) tokens per request. Trace means: 1,154.7 prompt and
211.1 generated tokens; the two are nearly independent (correlation -0.11), so the simulator draws them
independently. Sizes are drawn by inverse transform: a uniform u in [0, 1) picks a point between two
neighbouring percentiles, linearly.
"""

from __future__ import annotations

import numpy as np

PROMPT_TOKENS_PERCENTILES = (
    2, 29, 91, 161, 181, 181, 191, 197, 201, 203, 207, 212, 222, 242, 317, 372, 375, 378, 381, 384, 387, 390, 392,
    394, 395, 396, 398, 399, 400, 402, 403, 405, 406, 408, 411, 414, 419, 424, 433, 456, 703, 863, 903, 946, 972,
    984, 994, 1002, 1009, 1014, 1020, 1025, 1031, 1036, 1041, 1045, 1050, 1055, 1060, 1065, 1071, 1076, 1081, 1086,
    1092, 1097, 1102, 1109, 1116, 1122, 1130, 1139, 1147, 1160, 1171, 1189, 1215, 1249, 1311, 1314, 1315, 1321,
    1369, 1508, 1690, 1877, 2032, 2221, 2402, 2584, 2735, 3292, 4073, 4076, 4079, 4083, 4086, 4090, 4098, 4142,
    14050,
)

GENERATED_TOKENS_PERCENTILES = (
    7, 16, 24, 32, 38, 41, 44, 47, 49, 52, 54, 57, 59, 62, 64, 67, 69, 71, 73, 75, 77, 79, 81, 82, 84, 85, 86, 87,
    89, 90, 91, 92, 93, 94, 95, 96, 97, 99, 100, 101, 103, 105, 107, 108, 110, 113, 116, 118, 122, 125, 129, 133,
    137, 141, 145, 151, 156, 161, 163, 169, 177, 182, 190, 202, 216, 217, 237, 371, 375, 378, 384, 387, 390, 393,
    394, 395, 396, 396, 397, 398, 400, 402, 404, 407, 410, 411, 414, 415, 417, 420, 424, 428, 429, 433, 442, 451,
    468, 509, 540, 601, 1000,
)


def draw(percentiles: tuple[int, ...], rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` request sizes (whole tokens, at least 1) from the percentile table."""
    grid = np.asarray(percentiles, dtype=np.float64)
    u = rng.random(n) * (len(grid) - 1)
    lo = np.floor(u).astype(np.int64)
    hi = np.minimum(lo + 1, len(grid) - 1)
    values = grid[lo] + (grid[hi] - grid[lo]) * (u - lo)
    return np.maximum(1, np.rint(values)).astype(np.int64)
