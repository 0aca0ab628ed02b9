"""/docs works without the internet: the page and everything it loads come from the server itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from tests.conftest import RunningServer

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class _References(HTMLParser):
    """Every URL an element of the page loads or links to (src, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    # the URLs Swagger UI's start-up script fetches: the OpenAPI document and the OAuth2 redirect page
    in_script = re.findall(r"url:\s*'([^']*)'", page) + re.findall(r"origin \+ '([^']*)'", page)
    return parser.urls + in_script


def test_docs_load_only_from_the_server_itself(server: RunningServer) -> None:
    page = httpx.get(server.url + "/docs", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "SwaggerUIBundle(" in html
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html

    urls = _references(html)
    scripts = [u for u in urls if u.endswith(".js")]
    styles = [u for u in urls if u.endswith(".css")]
    icons = [u for u in urls if u.endswith(".png")]
    assert scripts and styles and icons and "/openapi.json" in urls, urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), f"{url} is not same-origin"

    bodies: dict[str, bytes] = {}
    for url in urls:
        answer = httpx.get(urljoin(server.url, url), timeout=10)
        assert answer.status_code == 200, (url, answer.status_code)
        suffix = "." + url.rsplit(".", 1)[-1] if "." in url.rsplit("/", 1)[-1] else ".html"
        expected = CONTENT_TYPES.get(suffix, "text/html")
        assert answer.headers["content-type"].startswith(expected), (url, answer.headers["content-type"])
        bodies[url] = answer.content
    assert all(b"SwaggerUIBundle" in bodies[u] for u in scripts)
    assert all(b".swagger-ui" in bodies[u] for u in styles)
    assert all(bodies[u].startswith(b"\x89PNG") for u in icons)
    # the Swagger UI served renders the OpenAPI version the server writes (3.1 needs Swagger UI 5)
    version = httpx.get(server.url + "/openapi.json", timeout=10).json()["openapi"]
    assert version.startswith("3.1") and all(b"oas/3.1" in bodies[u] for u in scripts)


def test_redoc_is_not_served(server: RunningServer) -> None:
    """ReDoc would load its script from a CDN: it is off."""
    assert httpx.get(server.url + "/redoc", timeout=10).status_code == 404
