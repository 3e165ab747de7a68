"""The package's own exceptions: every error a user can cause says what is wrong and how to fix it."""

from __future__ import annotations


class TokenBudgetError(Exception):
    """Base class of every error pytest-tokenbudget raises on purpose."""


class ConfigError(TokenBudgetError):
    """A configuration file holds something we cannot use; the message names file, key and fix."""

    def __init__(self, path: object, key: str, problem: str, fix: str) -> None:
        self.path = str(path)
        self.key = key
        super().__init__(f"{self.path}: [{key}] {problem}. Fix: {fix}")


class UnknownModelError(TokenBudgetError, LookupError):
    """A model name the registry cannot resolve."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" Closest known models: {', '.join(suggestions)}." if suggestions else ""
        toml = (
            f'[tool.tokenbudget.aliases]\n"{name}" = "{suggestions[0]}"'
            if suggestions
            else f'[tool.tokenbudget.models."{name}"]\nprovider = "openai"\n'
            'tokenizer = "o200k_base"\ncontext_window = 128000\nmax_output_tokens = 16384'
        )
        super().__init__(
            f"unknown model {name!r}.{hint} If it is another name for a known model, or a model of "
            f"your own, declare it in pyproject.toml:\n\n{toml}\n"
        )

    def __str__(self) -> str:  # LookupError would repr() the message otherwise
        return str(self.args[0])


class RequestBodyError(TokenBudgetError, ValueError):
    """A request body we cannot read; `path` points into the body, e.g. `messages[3].content[1].type`."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


class EncodingUnavailableError(TokenBudgetError):
    """A tiktoken encoding that is neither shipped with the package nor in the user's cache."""


class TokenBudgetWarning(UserWarning):
    """Something the plugin could not judge, e.g. a budgeted test in which it saw no LLM request."""
