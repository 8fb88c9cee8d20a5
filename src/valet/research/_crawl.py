"""A crawl of given sites for the local index: from the start pages, the links that stay on
their sites (same scheme, host and port), breadth first, up to a number of pages, read in
parallel with the reader's limits (robots.txt, per-domain limit, its `allow` check)."""

from __future__ import annotations

from urllib.parse import urlsplit

from valet.research._reader import Read, Reader, ReadFailure

_SKIPPED_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp", ".css", ".js", ".zip")


async def crawl(reader: Reader, start: list[str], most: int) -> list[Read | ReadFailure]:
    """Every page read (or not) from `start` and the same-site links found, at most `most`
    pages in all (start pages included)."""
    sites = {_site(url) for url in start}
    seen: set[str] = set()
    level = list(dict.fromkeys(start))
    done: list[Read | ReadFailure] = []
    while level and len(done) < most:
        batch = [url for url in level if url not in seen][: most - len(done)]
        seen.update(batch)
        found = await reader.read_all(batch)
        done += found
        level = [
            link
            for result in found
            if isinstance(result, Read)
            for link in result.links
            if _site(link) in sites
            and link not in seen
            and not urlsplit(link).path.lower().endswith(_SKIPPED_SUFFIXES)
        ]
        level = list(dict.fromkeys(level))
    return done


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
