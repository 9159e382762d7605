"""Nothing the dashboard serves makes the browser fetch from outside the server (hospital intranets are offline;
the libraries are vendored under web/static/vendor/, see its README): no CDN script, stylesheet, font, image,
module import or socket in the templates, the stylesheets or the scripts.

What counts is a reference the browser would load or connect to: an http(s)://, ws(s):// or protocol-relative //
address as an attribute value (src, href, action, srcset…), in CSS ``url()`` / ``@import``, or as a quoted string in
our own scripts and inline scripts (fetch, io, import). The vendored minified libraries carry addresses in licence
comments and error messages, which load nothing: in them only module imports, workers, CSS ``url()`` and an
external source map count.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
VENDOR = WEB / "static" / "vendor"

# an absolute or protocol-relative address: scheme (optional) then // then the start of a host name or [IPv6]
ADDRESS = r"(?:(?:https?|wss?):)?//[A-Za-z0-9\[]"
# our templates, stylesheets and scripts: an address right after a quote, a backtick, ``(`` or ``=``
# (attribute values, url(...), @import "…", fetch("…"), io("…"), import … from "…")
OWN = re.compile(r"""[=("'`]\s*""" + ADDRESS, re.IGNORECASE)
SRCSET = re.compile(r"""srcset\s*=\s*["'][^"']*?""" + ADDRESS, re.IGNORECASE)  # a second candidate after a comma
# vendored libraries: only what makes the browser fetch
VENDORED = re.compile(
    r"""(?:\bimport\s*\(\s*|\bfrom\s*|\bimport\s+|\bimportScripts\s*\(\s*|\bnew\s+(?:Shared)?Worker\s*\(\s*"""
    r"""|url\(\s*|sourceMappingURL=)["'`]?""" + ADDRESS, re.IGNORECASE)


# XML namespace names look like addresses but are never fetched (inline SVG, createElementNS)
NAMESPACES = re.compile(r"(?:https?:)?//www\.w3\.org/(?:2000/svg|1999/xhtml|1999/xlink|1998/Math/MathML|XML/1998/namespace)"
                        r"(?![\w/.])")


def external_references(text: str, *, vendored: bool = False) -> list[str]:
    """The external addresses in ``text`` the browser would load (each with a little context)."""
    patterns = (VENDORED,) if vendored else (OWN, SRCSET)
    found = set()
    for pattern in patterns:
        for m in pattern.finditer(text):
            address = re.search(ADDRESS, text[m.start():m.end()], re.IGNORECASE)
            assert address is not None
            if not NAMESPACES.match(text, m.start() + address.start()):
                found.add(text[max(m.start() - 20, 0):m.end() + 30].strip())
    return sorted(found)


def _served_files() -> list[Path]:
    files = [p for p in sorted((WEB / "templates").rglob("*")) if p.is_file()]
    files += [p for p in sorted((WEB / "static").rglob("*")) if p.suffix in (".js", ".mjs", ".css", ".html", ".svg")]
    return files


def test_the_scan_covers_the_templates_our_scripts_and_the_vendored_libraries() -> None:
    names = {p.relative_to(WEB).as_posix() for p in _served_files()}
    assert "templates/base.html" in names and "static/css/app.css" in names and "static/js/live.js" in names
    assert {"static/vendor/htmx.min.js", "static/vendor/socket.io.min.js", "static/vendor/chart.umd.min.js"} <= names


@pytest.mark.parametrize("path", _served_files(), ids=lambda p: p.relative_to(WEB).as_posix())
def test_no_served_file_makes_the_browser_fetch_from_outside(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = external_references(text, vendored=VENDOR in path.parents)
    assert found == [], f"{path.relative_to(WEB)} loads from outside the server; vendor the file instead: {found}"


@pytest.mark.parametrize("snippet", [
    '<script src="https://cdn.jsdelivr.net/npm/htmx.org@2.0.4"></script>',
    "<link rel=stylesheet href='//fonts.googleapis.com/css?family=Noto+Sans+SC'>",
    "<img src=http://example.org/logo.png>",
    '<img srcset="/static/a.png 1x, https://img.example.org/a@2x.png 2x">',
    '<form action="https://forms.example.org/submit">',
    "@font-face { src: url(https://fonts.gstatic.com/s/noto.woff2) }",
    '@import "//cdn.example.org/reset.css";',
    'import Chart from "https://esm.sh/chart.js@4";',
    'const sio = io("wss://push.example.org");',
    "fetch(`https://api.example.org/x`)",
    '<image href="http://www.w3.org/2000/svg/logo.png">',  # under the namespace's host, but a real file
])
def test_the_scan_finds_each_kind_of_external_load(snippet: str) -> None:
    assert external_references(snippet), snippet


@pytest.mark.parametrize("snippet", [
    '<script src="{{ url_for(\'static\', filename=\'vendor/htmx.min.js\') }}"></script>',
    '<a href="/supervisor/qa/?patient=张">', "background: url(/static/img/x.png)",
    "// see https://developer.mozilla.org/ for the API",  # a comment in our script loads nothing
    'const url = location.protocol + "//" + location.host;',
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8">',  # a namespace name is never fetched
    'document.createElementNS("http://www.w3.org/2000/svg", "path")',
])
def test_the_scan_lets_same_server_references_and_comments_pass(snippet: str) -> None:
    assert external_references(snippet) == []


@pytest.mark.parametrize("snippet, found", [
    ("/*! Chart.js v4.6.1 https://www.chartjs.org (c) 2025 Chart.js Contributors Released under the MIT License */",
     False),
    ('throw new Error("see https://socket.io/docs/v3/migrating-from-2-x-to-3-0/")', False),
    ("//# sourceMappingURL=chart.umd.min.js.map", False),
    ("//# sourceMappingURL=https://cdn.example.org/chart.umd.min.js.map", True),
    ('import("https://cdn.example.org/chunk.js")', True),
    ('new Worker("//cdn.example.org/worker.js")', True),
])
def test_in_vendored_libraries_only_loads_count(snippet: str, found: bool) -> None:
    assert bool(external_references(snippet, vendored=True)) is found
