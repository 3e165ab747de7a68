"""A small customer-support assistant: the kind of app pytest-tokenbudget guards.

It builds prompts from a system prompt, the conversation so far, retrieved order
data and tool definitions, and sends them through the official SDKs.
"""

from .bot import ClaudeSupportBot, OpenAISupportBot
from .orders import Order, OrderBook

__all__ = ["ClaudeSupportBot", "OpenAISupportBot", "Order", "OrderBook"]
