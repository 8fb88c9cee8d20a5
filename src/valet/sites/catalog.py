# pyright: strict
"""Catalogue queries for the "Voltline" shop: lookup, brands and search/sort."""

from __future__ import annotations

from .products import CATEGORIES, PRODUCTS, Category, Product, format_price

__all__ = [
    "BRANDS",
    "CATEGORIES",
    "PRODUCTS",
    "SORTS",
    "Category",
    "Product",
    "format_price",
    "get_category",
    "get_product",
    "search",
]

BRANDS: tuple[str, ...] = tuple(sorted({p.brand for p in PRODUCTS}))

_BY_SLUG: dict[str, Product] = {p.slug: p for p in PRODUCTS}
_CATEGORY_BY_SLUG: dict[str, Category] = {c.slug: c for c in CATEGORIES}


def get_product(slug: str) -> Product | None:
    return _BY_SLUG.get(slug)


def get_category(slug: str) -> Category | None:
    return _CATEGORY_BY_SLUG.get(slug)


SORTS: tuple[tuple[str, str], ...] = (
    ("relevance", "Relevance"),
    ("price-asc", "Price: low to high"),
    ("price-desc", "Price: high to low"),
    ("rating", "Customer rating"),
)


def _score(product: Product, tokens: list[str]) -> int | None:
    """Relevance score, or None if some token does not match at all."""
    name = product.name.lower()
    haystack = " ".join(
        (name, product.brand.lower(), product.category, product.description.lower())
    )
    score = 0
    for token in tokens:
        if token in name:
            score += 3
        elif token in haystack or (token.endswith("s") and token[:-1] in haystack):
            score += 1
        else:
            return None
    return score


def search(
    query: str = "",
    *,
    category: str | None = None,
    brands: list[str] | None = None,
    max_price_cents: int | None = None,
    sort: str = "relevance",
) -> list[Product]:
    tokens = [t for t in query.lower().replace(",", " ").split() if t]
    scored: list[tuple[int, int, Product]] = []
    for index, product in enumerate(PRODUCTS):
        if category and product.category != category:
            continue
        if brands and product.brand not in brands:
            continue
        if max_price_cents is not None and product.price_cents > max_price_cents:
            continue
        score = _score(product, tokens)
        if score is None:
            continue
        # Relevance ties are broken by popularity, not price.
        scored.append((score, index, product))
    if sort == "price-asc":
        scored.sort(key=lambda t: (t[2].price_cents, t[1]))
    elif sort == "price-desc":
        scored.sort(key=lambda t: (-t[2].price_cents, t[1]))
    elif sort == "rating":
        scored.sort(key=lambda t: (-t[2].rating, t[1]))
    else:
        scored.sort(key=lambda t: (-t[0], -t[2].reviews, t[1]))
    return [t[2] for t in scored]
