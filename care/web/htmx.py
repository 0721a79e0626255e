"""One URL serves the page and its fragment: fragment only for a plain htmx request."""

from __future__ import annotations

from flask import render_template, request


def is_htmx() -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, fragment: str, **context):
    """Render the whole page, or only `fragment` for an htmx request."""
    return render_template(fragment if is_htmx() else page, **context)
