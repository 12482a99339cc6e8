"""The `labelSelector` of list and bulk requests, read once for every operation."""

from __future__ import annotations

from gateway.routing import QueryParam
from schemas.errors import ValidationFailed
from schemas.labels import MAX_SELECTOR_LENGTH, InvalidLabel, Selector, parse_selector

LABEL_SELECTOR_PARAM = QueryParam(
    "labelSelector",
    {"type": "string", "maxLength": MAX_SELECTOR_LENGTH},
    "Kubernetes label selector, e.g. `env=prod,team in (data,ml),!deprecated`.",
)


def read_selector(text: str | None, field: str = "labelSelector") -> Selector:
    """The parsed selector, or a 400 naming `field`."""
    if text is None:
        return ()
    try:
        return parse_selector(text)
    except InvalidLabel as exc:
        raise ValidationFailed(f"{field}: {exc}", {field: str(exc)}) from None
