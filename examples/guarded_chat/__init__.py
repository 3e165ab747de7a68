"""A chat service that keeps its production requests inside the same budgets its tests enforce."""

from .service import ChatService, guarded_client

__all__ = ["ChatService", "guarded_client"]
