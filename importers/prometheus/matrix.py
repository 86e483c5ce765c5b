"""A fast reader for ``query_range`` answers: the point arrays straight into numpy.

``json.loads`` of a matrix answer builds two Python objects per point, and turning those into floats
costs as much again; at a few million points per chunk that was most of the importer's own time. The
answer's shape is fixed (``{"metric":{...},"values":[[t,"v"],...]}`` per series), and inside JSON text
the sequences ``{"metric":`` and ``"values":[`` can only occur as syntax (a quote inside a label value is
escaped), so each series is cut out by those markers: its labels go through ``json.loads`` (small), its
points through ``numpy.fromstring``. Anything unexpected returns None and the caller uses ``json.loads``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

PREFIX = '{"status":"success","data":{"resultType":"matrix","result":['
_SERIES, _VALUES, _END = '{"metric":', ',"values":[', "]]}"


class Deferred:
    """A complete ``query_range`` answer whose series are not parsed yet: the importer's fetch threads hand
    it to a builder, so the next request goes out while this one is read (``series()`` parses it once)."""

    __slots__ = ("_text",)

    def __init__(self, text: str):
        self._text = text

    def series(self) -> list[dict]:
        try:
            payload = parse(self._text) or json.loads(self._text)
        except ValueError:
            from store.errors import UserError

            raise UserError("query_range: the server's answer is not valid JSON (its envelope was)") from None
        return payload["data"]["result"]


def defer(text: str) -> dict | None:
    """The API payload of a complete matrix answer with ``data.result`` left as a ``Deferred``, or None
    where this cannot be told cheaply (the caller parses it now). Complete means the envelope after the last
    series (status, stats, warnings) is valid JSON, so a cut-off answer is still caught before it is kept."""
    if not text.startswith(PREFIX):
        return None
    tail = text.rfind(_END + "]")
    if tail < 0:
        return None
    try:
        envelope = json.loads(PREFIX + text[tail + len(_END):])
    except ValueError:
        return None
    envelope["data"]["result"] = Deferred(text)
    return envelope


def resolve(result) -> list[dict]:
    """A ``query_range`` result as its list of series, parsing a ``Deferred`` one."""
    return result.series() if isinstance(result, Deferred) else result


def parse(text: str) -> dict | None:
    """The API payload with each series as ``{"metric": {...}, "ts": float64[], "vs": float64[]}``."""
    if not text.startswith(PREFIX):
        return None
    pos, result = len(PREFIX), []
    while text.startswith(_SERIES, pos):
        v = text.find(_VALUES, pos)
        end = text.find(_END, v)
        if v < 0 or end < 0:
            return None
        try:
            metric = json.loads(text[pos + len(_SERIES):v])
        except ValueError:
            return None
        body = text[v + len(_VALUES) + 1:end]  # 't,"v"],[t,"v"],...,[t,"v"'
        pairs = body.count("],[") + 1
        flat = body.replace('"', "").replace("],[", ",")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nums = np.fromstring(flat, sep=",")
        if len(nums) != 2 * pairs:
            return None
        result.append({"metric": metric, "ts": nums[0::2], "vs": nums[1::2]})
        pos = end + len(_END)
        if text.startswith(",", pos):
            pos += 1
    if not text.startswith("]", pos):
        return None
    try:
        envelope = json.loads(PREFIX + text[pos:])  # stats and warnings, with an empty result
    except ValueError:
        return None
    envelope["data"]["result"] = result
    return envelope
