"""The documentation builds strictly, and what reaches the HTML reads as documentation:
no raw reST role from a docstring, no placeholder link."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):(?:`|<code>)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(mkdocs if mkdocs.exists() else "mkdocs"), "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_no_raw_sphinx_role_reaches_the_html(site: Path) -> None:
    found = {
        str(page.relative_to(site)): ROLE.findall(page.read_text()) for page in site.rglob("*.html")
    }
    raw = {page: len(hits) for page, hits in found.items() if hits}
    assert not raw, f"raw reST roles in the built pages: {raw}"


def test_the_reference_links_its_cross_references(site: Path) -> None:
    reference = (site / "reference" / "index.html").read_text()
    assert reference.count('class="autorefs autorefs-internal"') > 50


def test_no_placeholder_link_reaches_the_html(site: Path) -> None:
    for page in site.rglob("*.html"):
        assert "example.invalid" not in page.read_text(), page
