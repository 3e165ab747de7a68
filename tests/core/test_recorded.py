"""The recorded-count lock file and `tokenbudget record`, driven through the real anthropic SDK
client whose HTTP transport is a local fake (httpx2.MockTransport): no network is touched."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")

from pytest_tokenbudget import _recorded  # noqa: E402
from pytest_tokenbudget._recorded import LockFileError, canonical_key, lookup, run_record  # noqa: E402

MODEL = "claude-sonnet-4-5-20250929"
BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 512,
    "temperature": 0.2,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": "Summarise the release notes."}],
    "tools": [{"name": "search", "description": "Search docs", "input_schema": {"type": "object"}}],
}


class FakeCountTokens:
    """Stands in for Anthropic's count-tokens endpoint and remembers what it was sent."""

    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.status = status

    def tokens_for(self, payload: dict) -> int:
        # Deterministic and sensitive to the prompt, so different bodies get different counts.
        return 10 + len(json.dumps(payload["messages"])) // 3 + len(json.dumps(payload.get("system", ""))) // 3

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages/count_tokens"
        payload = json.loads(request.content)
        self.requests.append(payload)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if self.status != 200:
            return httpx2.Response(self.status, json={"type": "error", "error": {"type": "api_error", "message": "boom"}})
        return httpx2.Response(200, json={"input_tokens": self.tokens_for(payload)})

    def client(self) -> "anthropic.Anthropic":
        return anthropic.Anthropic(
            api_key="test",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
        )


def write_bodies(tmp_path: Path, *bodies: dict) -> Path:
    folder = tmp_path / "requests"
    folder.mkdir(exist_ok=True)
    for index, body in enumerate(bodies):
        (folder / f"req{index}.json").write_text(json.dumps(body), encoding="utf-8")
    return folder


# --- the key -------------------------------------------------------------------------------------


def test_key_ignores_sampling_and_transport_fields() -> None:
    changed = {**BODY, "max_tokens": 4096, "temperature": 1.0, "stream": True, "metadata": {"user_id": "u1"},
               "top_p": 0.5, "stop_sequences": ["END"], "model": "claude-sonnet-4-5-20250929"}
    assert canonical_key(changed, MODEL) == canonical_key(BODY, MODEL)


@pytest.mark.parametrize(
    "change",
    [
        {"system": "You are verbose."},
        {"messages": [{"role": "user", "content": "Summarise the release notes!"}]},
        {"tools": []},
        {"tool_choice": {"type": "any"}},
        {"thinking": {"type": "enabled", "budget_tokens": 2048}},
    ],
)
def test_key_changes_with_every_prompt_field(change: dict) -> None:
    assert canonical_key({**BODY, **change}, MODEL) != canonical_key(BODY, MODEL)


def test_key_depends_on_model_and_not_on_dict_order() -> None:
    reordered = dict(reversed(list(BODY.items())))
    assert canonical_key(reordered, MODEL) == canonical_key(BODY, MODEL)
    assert canonical_key(BODY, "claude-opus-4-8") != canonical_key(BODY, MODEL)
    assert len(canonical_key(BODY, MODEL)) == 64


def test_key_rejects_non_json_bodies() -> None:
    with pytest.raises(TypeError, match="JSON"):
        canonical_key({"messages": [{"role": "user", "content": object()}]}, MODEL)


# --- recording through the real SDK ---------------------------------------------------------------


def test_record_then_lookup_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    fake = FakeCountTokens()
    other = {**BODY, "messages": [{"role": "user", "content": "A different, longer question about budgets?"}]}
    folder = write_bodies(tmp_path, BODY, other)
    lock = tmp_path / "tokenbudget.lock.json"

    assert run_record([str(folder), "--lock", str(lock)], client=fake.client()) == 0
    assert "2 recorded, 0 unchanged" in capsys.readouterr().out

    # What the SDK sent: the prompt fields, the resolved model, the test key; no max_tokens.
    sent = fake.requests[0]
    assert sent["model"] == MODEL
    assert sent["system"] == BODY["system"] and sent["tools"] == BODY["tools"]
    assert "max_tokens" not in sent and "temperature" not in sent
    assert "test" in (fake.headers[0].get("x-api-key", "") + fake.headers[0].get("authorization", ""))

    # Offline read-back: exact values, keyed by prompt + model.
    assert lookup(BODY, MODEL, lock_path=lock) == fake.tokens_for(fake.requests[0])
    assert lookup(other, MODEL, lock_path=lock) == fake.tokens_for(fake.requests[1])
    assert lookup({**BODY, "temperature": 0.9}, MODEL, lock_path=lock) == fake.tokens_for(fake.requests[0])
    # Stale: the prompt changed, or a different model.
    assert lookup({**BODY, "system": "Changed."}, MODEL, lock_path=lock) is None
    assert lookup(BODY, "claude-opus-4-8", lock_path=lock) is None


def test_lock_file_is_sorted_stable_and_versioned(tmp_path: Path) -> None:
    fake = FakeCountTokens()
    folder = write_bodies(tmp_path, BODY, {**BODY, "system": "Other."})
    lock = tmp_path / "lock.json"
    assert run_record([str(folder), "--lock", str(lock)], client=fake.client()) == 0
    first = lock.read_text(encoding="utf-8")
    data = json.loads(first)
    assert data["version"] == _recorded.LOCK_VERSION
    assert list(data["entries"]) == sorted(data["entries"])
    assert first.endswith("}\n") and first == json.dumps(data, sort_keys=True, indent=2) + "\n"
    for entry in data["entries"].values():
        assert entry["model"] == MODEL and isinstance(entry["input_tokens"], int)

    # Re-running records nothing new, sends nothing, and leaves the bytes alone.
    assert run_record([str(folder), "--lock", str(lock)], client=fake.client()) == 0
    assert len(fake.requests) == 2
    assert lock.read_text(encoding="utf-8") == first
    # --force re-sends, but equal counts keep the file byte-identical (recorded_at preserved).
    assert run_record([str(folder), "--lock", str(lock), "--force"], client=fake.client()) == 0
    assert len(fake.requests) == 4
    assert lock.read_text(encoding="utf-8") == first


def test_prune_drops_entries_of_requests_that_no_longer_exist(tmp_path: Path, capsys) -> None:
    fake = FakeCountTokens()
    lock = tmp_path / "lock.json"
    old = write_bodies(tmp_path, BODY, {**BODY, "system": "Old prompt."})
    assert run_record([str(old), "--lock", str(lock)], client=fake.client()) == 0
    only = tmp_path / "only.json"
    only.write_text(json.dumps(BODY), encoding="utf-8")
    assert run_record([str(only), "--lock", str(lock), "--prune"], client=fake.client()) == 0
    assert "0 recorded, 1 unchanged, 1 pruned" in capsys.readouterr().out
    assert list(json.loads(lock.read_text())["entries"]) == [canonical_key(BODY, MODEL)]


def test_jsonl_lists_wrappers_and_model_flag(tmp_path: Path) -> None:
    fake = FakeCountTokens()
    no_model = {k: v for k, v in BODY.items() if k != "model"}
    jsonl = tmp_path / "captured.jsonl"
    jsonl.write_text(json.dumps({"body": no_model}) + "\n\n" + json.dumps(no_model) + "\n", encoding="utf-8")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{**no_model, "system": "x"}]), encoding="utf-8")
    lock = tmp_path / "lock.json"
    code = run_record([str(jsonl), str(listed), "--lock", str(lock), "--model", "claude-opus-4-8"], client=fake.client())
    assert code == 0
    assert {r["model"] for r in fake.requests} == {"claude-opus-4-8"}
    assert lookup(no_model, "claude-opus-4-8", lock_path=lock) is not None


def test_openai_bodies_are_skipped_with_a_note(tmp_path: Path, capsys) -> None:
    fake = FakeCountTokens()
    folder = write_bodies(tmp_path, BODY, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert run_record([str(folder), "--lock", str(tmp_path / "l.json")], client=fake.client()) == 0
    assert "'gpt-4o' is not a Claude model" in capsys.readouterr().err
    assert len(fake.requests) == 1


# --- errors ---------------------------------------------------------------------------------------


def test_without_api_key_exits_2_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    folder = write_bodies(tmp_path, BODY)
    lock = tmp_path / "lock.json"
    assert run_record([str(folder), "--lock", str(lock)]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY is not set" in err
    assert not lock.exists()


def test_cli_dispatch_without_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    cli = pytest.importorskip("pytest_tokenbudget.cli")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    folder = write_bodies(tmp_path, BODY)
    assert cli.main(["record", str(folder), "--lock", str(tmp_path / "l.json")]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_api_error_leaves_lock_untouched(tmp_path: Path, capsys) -> None:
    lock = tmp_path / "lock.json"
    good = FakeCountTokens()
    folder = write_bodies(tmp_path, BODY)
    assert run_record([str(folder), "--lock", str(lock)], client=good.client()) == 0
    before = lock.read_bytes()
    write_bodies(tmp_path, BODY, {**BODY, "system": "new"})
    assert run_record([str(folder), "--lock", str(lock)], client=FakeCountTokens(status=500).client()) == 1
    assert "count_tokens failed" in capsys.readouterr().err
    assert lock.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1"),
        ('{"version": 1}', 'expected an object with an "entries" object'),
        ('{"version": 9, "entries": {}}', "version 9 is not supported"),
        ('{"version": 1, "entries": {"k": {"input_tokens": "12", "model": "m"}}}', "entries['k'] needs an integer"),
    ],
)
def test_broken_lock_file_is_a_clear_error(tmp_path: Path, content: str, message: str, capsys) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text(content, encoding="utf-8")
    with pytest.raises(LockFileError, match=re.escape(message)) as info:
        lookup(BODY, MODEL, lock_path=lock)
    assert str(lock) in str(info.value)
    # The command refuses before calling the API, and keeps the file.
    folder = write_bodies(tmp_path, BODY)
    fake = FakeCountTokens()
    assert run_record([str(folder), "--lock", str(lock)], client=fake.client()) == 2
    assert message.split(" (")[0] in capsys.readouterr().err
    assert fake.requests == [] and lock.read_text(encoding="utf-8") == content


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "missing.json", "no such file or directory"),
        (lambda p: (p / "bad.json").write_text("[1,", encoding="utf-8") and p / "bad.json", "not valid JSON"),
        (lambda p: (p / "arr.json").write_text("[3]", encoding="utf-8") and p / "arr.json", "must be a JSON object"),
        (lambda p: (p / "nomodel.json").write_text('{"messages": []}', encoding="utf-8") and p / "nomodel.json",
         "pass --model MODEL"),
    ],
)
def test_bad_inputs_exit_2_naming_the_file(tmp_path: Path, setup, message: str, capsys) -> None:
    path = setup(tmp_path)
    assert run_record([str(path), "--lock", str(tmp_path / "l.json")], client=FakeCountTokens().client()) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err


# --- where the lock file lives --------------------------------------------------------------------


def test_default_lock_path_is_project_root_and_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENBUDGET_LOCK", raising=False)
    project = tmp_path / "proj"
    nested = project / "src" / "pkg"
    nested.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    assert _recorded.default_lock_path(nested) == project.resolve() / "tokenbudget.lock.json"

    (project / "pyproject.toml").write_text('[tool.tokenbudget]\nlock-file = "ci/counts.json"\n', encoding="utf-8")
    assert _recorded.default_lock_path(nested) == project.resolve() / "ci" / "counts.json"

    monkeypatch.setenv("TOKENBUDGET_LOCK", str(tmp_path / "env.json"))
    assert _recorded.default_lock_path(nested) == tmp_path / "env.json"


def test_lookup_without_lock_file_is_none(tmp_path: Path) -> None:
    assert lookup(BODY, MODEL, lock_path=tmp_path / "absent.json") is None


def test_count_request_prefers_the_recorded_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: record through the SDK, then the public counter reads the lock file offline."""
    from pytest_tokenbudget import count_request

    lock = tmp_path / "tokenbudget.lock.json"
    monkeypatch.setenv("TOKENBUDGET_LOCK", str(lock))
    fake = FakeCountTokens()
    assert run_record([str(write_bodies(tmp_path, BODY))], client=fake.client()) == 0

    counted = count_request(BODY)
    assert counted.provenance == "recorded"
    assert counted.input_tokens == fake.tokens_for(fake.requests[0])
    assert counted.model.id == MODEL

    stale = count_request({**BODY, "system": "You are verbose."})
    assert stale.provenance in ("ctok", "estimate")
