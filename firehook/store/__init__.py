"""The SQL store: schema, engine, migrations and the queries of each concept."""

from firehook.store.database import Database, store_unreachable
from firehook.store.migrate import upgrade_to_head, upgrade_to_head_async

__all__ = ["Database", "store_unreachable", "upgrade_to_head", "upgrade_to_head_async"]
