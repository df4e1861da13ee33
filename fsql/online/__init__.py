"""Online stores: latest feature values per entity key, newest wins, TTL at read."""

from fsql.online.base import OnlineStore, OnlineTable, ViewState
from fsql.online.open import open_online

__all__ = ["OnlineStore", "OnlineTable", "ViewState", "open_online"]
