"""Fixtures for the example tests: real SDK clients that never need a real key.

pytest-tokenbudget answers every request of a budgeted test locally, so the
key is a placeholder and nothing is sent anywhere.
"""

import anthropic
import openai
import pytest

from support_bot import ClaudeSupportBot, OpenAISupportBot, Order, OrderBook


@pytest.fixture
def orders() -> OrderBook:
    book = OrderBook()
    book.add(Order("A-1042", "shipped on Monday, arriving Thursday", ("tent", "2 sleeping bags")))
    book.add(Order("A-1043", "waiting for stock", ("hiking boots",), notes="Supplier delay of about a week."))
    return book


@pytest.fixture
def support_bot(orders: OrderBook) -> OpenAISupportBot:
    return OpenAISupportBot(openai.OpenAI(api_key="placeholder-key"), orders)


@pytest.fixture
def claude_bot(orders: OrderBook) -> ClaudeSupportBot:
    return ClaudeSupportBot(anthropic.Anthropic(api_key="placeholder-key"), orders)
