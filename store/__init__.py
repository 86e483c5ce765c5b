"""The dataset store: the v1 Parquet format that the node agent writes and every later stage reads.

`store` is the lowest layer of the pipeline (agent -> store -> optimizer -> recommender): it imports
nothing from the other packages and nothing heavier than pyarrow, so the agent can use it.
"""

from store.errors import DataError, UserError
from store.schema import SCHEMAS, TABLES

__all__ = ["DataError", "UserError", "SCHEMAS", "TABLES"]
