"""A stand-in for the shop's order database."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Order:
    order_id: str
    status: str
    items: tuple[str, ...]
    notes: str = ""


@dataclass
class OrderBook:
    orders: dict[str, Order] = field(default_factory=dict)

    def add(self, order: Order) -> None:
        self.orders[order.order_id] = order

    def lookup(self, order_id: str) -> str:
        order = self.orders.get(order_id)
        if order is None:
            return f"No order {order_id} found."
        return f"Order {order.order_id}: {order.status}. Items: {', '.join(order.items)}. {order.notes}".strip()
