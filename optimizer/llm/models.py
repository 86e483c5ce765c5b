"""The bundled table of open models (``data/models.json``): weights and KV-cache bytes per token, looked up by
the name a server reports, whatever its spelling.

A server names its model by whatever ``--served-model-name`` (or the path it loaded) says:
``meta-llama/Llama-3.1-8B-Instruct``, ``Meta-Llama-3.1-8B-Instruct``, ``/models/llama-3.1-8b-instruct``,
``llama3.1:8b``. ``normalize_model_name`` folds the organisation prefix, case, separators and the older
``Meta-`` prefix; the lookup then also ignores the fine-tuning suffixes that do not change a single tensor's
shape (``-Instruct``, ``-it``, ``-chat``). A quantized checkpoint (FP8, AWQ, GPTQ, int4 ...) holds fewer bytes
per weight than the table's dtype, so such a name matches nothing: its size is never guessed (the pod
annotation ``rightsizer.io/model-weights-bytes`` gives it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float8": 1}
# tokens of a name that say the weights are not the table's dtype
QUANTIZED = frozenset({"fp8", "int8", "int4", "awq", "gptq", "gguf", "w4a16", "w8a8", "w8a16", "bnb", "4bit", "8bit",
                       "nf4", "exl2", "q4", "q8", "mlx"})
# tokens of a fine-tune that keep every tensor's shape (the size lookup ignores them; the managed mapping does not)
SAME_SHAPE = frozenset({"instruct", "it", "chat", "hf"})


@dataclass(frozen=True)
class ModelSpec:
    id: str  # the Hugging Face id
    params: int
    layers: int
    kv_heads: int
    head_dim: int
    dtype: str
    source: str
    aliases: tuple[str, ...] = ()
    note: str = ""

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def weights_bytes(self) -> int:
        return self.params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V of every layer for one token: 2 × layers × KV heads × head size × dtype bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes


def normalize_model_name(name: str) -> str:
    """``meta-llama/Meta-Llama-3.1-8B-Instruct`` -> ``llama-3.1-8b-instruct``: the last path part, lower case,
    ``_``/space/``:`` as ``-``, no ``meta-`` prefix, ``llama3`` spelled ``llama-3``."""
    text = str(name).strip().rstrip("/").rsplit("/", 1)[-1].lower()
    text = re.sub(r"[\s_:]+", "-", text)
    text = re.sub(r"^meta-(?=llama)", "", text)
    text = re.sub(r"^llama(?=\d)", "llama-", text)
    return re.sub(r"-+", "-", text).strip("-")


def _shape_key(normalized: str) -> tuple[str, ...] | None:
    tokens = normalized.split("-")
    if any(t in QUANTIZED for t in tokens):
        return None
    return tuple(t for t in tokens if t not in SAME_SHAPE)


@lru_cache(maxsize=1)
def model_table() -> tuple[ModelSpec, ...]:
    doc = json.loads(resources.files("optimizer.llm").joinpath("data", "models.json").read_text(encoding="utf-8"))
    return tuple(ModelSpec(id=m["id"], params=int(round(m["params_billion"] * 1e9)), layers=m["layers"],
                           kv_heads=m["kv_heads"], head_dim=m["head_dim"], dtype=m["dtype"], source=m["source"],
                           aliases=tuple(m.get("aliases", ())), note=m.get("note", ""))
                 for m in doc["models"])


@lru_cache(maxsize=1)
def _index() -> dict[tuple[str, ...], ModelSpec]:
    out: dict[tuple[str, ...], ModelSpec] = {}
    for spec in model_table():
        for name in (spec.id, *spec.aliases):
            key = _shape_key(normalize_model_name(name))
            if key is not None:
                out[key] = spec
    return out


def find_model(name: str | None) -> ModelSpec | None:
    """The table's row for a served model name, or None (unknown, or a quantized checkpoint)."""
    if not name:
        return None
    key = _shape_key(normalize_model_name(name))
    return None if key is None else _index().get(key)
