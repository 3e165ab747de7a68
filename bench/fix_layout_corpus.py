"""How often `tokenbudget check --fix` leaves a `ruff format`-clean file clean, on generated call
shapes (every provider's call, several argument lists and statement shapes, comments on some
argument lines), formatted with the real ruff first. Also counts what must never happen: a file
that no longer compiles, a second run that changes it again, trailing whitespace, a comment
moved or copied.

    python bench/fix_layout_corpus.py [--checker PATH]   # PATH: another checker's parent directory
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "checker"))

from call_shapes import STATEMENTS, comments, ruff, sources, write_formatted  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checker", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    sys.path.insert(0, str(args.checker))
    from checker.engine import fix_source
    from checker.registry import select_rules
    from checker.settings import RuleSettings

    ruff_path = ruff()
    if ruff_path is None:
        sys.exit("ruff is not installed (it is in the test extra)")
    corpus = Path(tempfile.mkdtemp(prefix="fix-layout-"))
    shapes = write_formatted(corpus, sources(), ruff_path)
    rules, settings = select_rules(["TB101"]), RuleSettings(project_root=corpus)
    broken = {"does not compile": 0, "not idempotent": 0, "trailing whitespace": 0, "comment moved or copied": 0}
    for path in sorted(corpus.glob("*.py")):
        before = path.read_text()
        after = fix_source(before, path.name, rules, settings)[0]
        try:
            compile(after, path.name, "exec")
        except SyntaxError:
            broken["does not compile"] += 1
        broken["not idempotent"] += fix_source(after, path.name, rules, settings)[0] != after
        broken["trailing whitespace"] += any(line != line.rstrip() for line in after.splitlines())
        broken["comment moved or copied"] += comments(after) != comments(before)
        path.write_text(after)
    check = subprocess.run([ruff_path, "format", "--check", "--isolated", str(corpus)], capture_output=True, text=True)
    unclean = [line.split("-->")[1].strip().split(":")[0] for line in (check.stdout + check.stderr).splitlines()
               if line.strip().startswith("-->")]
    print(f"{len(shapes)} files, all formatter-clean before --fix")
    print(f"ruff format would reformat after --fix: {len(unclean)}")
    for shape in STATEMENTS:
        total = sum(1 for s in shapes.values() if s == shape)
        bad = sum(1 for name in unclean if shapes[Path(name).name] == shape)
        print(f"  {shape:<26} {bad:>4} / {total}")
    for what, count in broken.items():
        print(f"{what}: {count}")


if __name__ == "__main__":
    main()
