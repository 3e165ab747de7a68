"""Hypothesis's entry point: `st.from_type` for the SDKs' message types, without importing an SDK
(or our strategies) into a process that has not imported one."""

from __future__ import annotations

import sys


def register() -> None:
    if "openai" in sys.modules or "anthropic" in sys.modules:
        from .strategies import register_sdk_types

        register_sdk_types()
