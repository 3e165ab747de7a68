"""The token_budget marker: validation errors at setup, nearest-wins merging over configured defaults."""

from __future__ import annotations

import pytest

from pytest_tokenbudget._marker import BudgetSpec, MarkerError, spec_from_sources


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("token_budget(max_input=10)", "unknown argument 'max_input' (did you mean 'max_input_tokens'?)"),
        ("token_budget(max_input_tokens=-5)", "max_input_tokens must not be negative, got -5"),
        ("token_budget(max_calls='many')", "max_calls must be a number, got 'many'"),
        ("token_budget(max_input_tokens=1.5)", "max_input_tokens must be a whole number, got 1.5"),
        ("token_budget(max_cost_usd=float('nan'))", "max_cost_usd must be a finite number, got nan"),
        ("token_budget(8000)", "token_budget takes keyword arguments only, got positional (8000,)"),
        ("token_budget(require_max_tokens='sometimes')", "require_max_tokens must be True or False"),
        ("token_budget(model=3)", "model must be a model name string, got 3"),
    ],
)
def test_bad_marker_is_a_setup_error_naming_test_and_argument(inner: pytest.Pytester, marker: str, expected: str) -> None:
    inner.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_budgeted():
            pass
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*token_budget marker on *::test_budgeted: {expected}*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_nearest_marker_wins_per_key_over_ini_and_pyproject_defaults(inner: pytest.Pytester) -> None:
    inner.makepyprojecttoml(
        """
        [tool.tokenbudget.budget]
        max_calls = 9
        max_output_tokens = 4096
        model = "gpt-4o"
        """
    )
    inner.makeini(
        """
        [pytest]
        tokenbudget_max_output_tokens = 2_048
        tokenbudget_require_max_tokens = false
        """
    )
    inner.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.token_budget(max_input_tokens=1000, max_calls=5)

        @pytest.mark.token_budget(max_input_tokens=500)
        class TestSupport:
            @pytest.mark.token_budget(max_input_tokens=100)
            def test_function_wins(self, token_budget):
                spec = token_budget.spec
                assert (spec.max_input_tokens, spec.max_calls, spec.max_output_tokens) == (100, 5, 2048)
                assert spec.model == "gpt-4o" and spec.require_max_tokens is False

            def test_class_wins(self, token_budget):
                assert token_budget.spec.max_input_tokens == 500

        def test_module_applies(token_budget):
            assert token_budget.spec.max_input_tokens == 1000 and token_budget.spec.max_calls == 5
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_bad_configured_default_is_a_usage_error(inner: pytest.Pytester) -> None:
    inner.makepyprojecttoml(
        """
        [tool.tokenbudget.budget]
        max_input_tokens = "lots"
        """
    )
    inner.makepyfile("def test_x(): pass")
    result = inner.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]tool.tokenbudget.budget[]]: max_input_tokens must be a number, got 'lots'*"])


def test_spec_merging_unit() -> None:
    spec = spec_from_sources([
        ("defaults", {"max_calls": 3, "require_max_tokens": "false"}, ()),
        ("marker", {"max_input_tokens": "8_000", "max_cost_usd": 0.5}, ()),
    ])
    assert spec == BudgetSpec(max_input_tokens=8000, max_calls=3, max_cost_usd=0.5, require_max_tokens=False)
    assert spec.limits() == {"max_input_tokens": 8000, "max_calls": 3, "max_cost_usd": 0.5}
    with pytest.raises(MarkerError, match="max_calls must be a number"):
        spec_from_sources([("m", {"max_calls": True}, ())])
