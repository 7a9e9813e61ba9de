"""The tutorial's test, as printed on docs/tutorial.md, passes next to the tutorial's operator.

Both files are taken from the page and run by pytest in a folder of their own, the way a
reader runs them: the plugin loads by its entry point and configures pytest-asyncio itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"


def block(title: str) -> str:
    text = TUTORIAL.read_text()
    match = re.search(rf'```python title="{re.escape(title)}"\n(.*?)```', text, re.S)
    assert match, f"docs/tutorial.md lost its {title} code block"
    return match.group(1)


def test_the_tutorials_test_passes_as_printed(tmp_path: Path) -> None:
    (tmp_path / "greeting.py").write_text(block("greeting.py"))
    (tmp_path / "test_greeting.py").write_text(block("test_greeting.py"))
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_greeting.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "asyncio_default_fixture_loop_scope" not in result.stdout + result.stderr
