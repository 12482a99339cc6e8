"""The configuration of the `custom_hmac` signing mode: any HMAC scheme a sender uses."""

from __future__ import annotations

from string import Formatter
from typing import Final, Literal, Self

from pydantic import Field, model_validator

from schemas.common import ApiModel

TEMPLATE_FIELDS: Final = frozenset({"body", "timestamp", "url", "delivery_id"})
# An HTTP header name is an RFC 9110 token.
_HEADER_NAME: Final = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$"
_RESERVED_HEADERS: Final = frozenset({"content-type", "content-length", "host"})


class HmacConfig(ApiModel):
    """How a sender signs: `HMAC(secret, template)` in a header, optionally timestamped.

    The template is text with `{body}`, `{timestamp}`, `{url}` and `{delivery_id}`
    placeholders (`{{` and `}}` for literal braces); it must include `{body}`, so
    the body is always authenticated.
    """

    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    signature_header: str = Field(pattern=_HEADER_NAME)
    signature_prefix: str = Field(default="", max_length=32)
    signed_template: str = Field(default="{body}", min_length=6, max_length=200)
    timestamp_header: str | None = Field(default=None, pattern=_HEADER_NAME)
    delivery_id_header: str | None = Field(default=None, pattern=_HEADER_NAME)
    separator: str | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="Splits one header into several signatures (any one may match).",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        used = template_fields(self.signed_template)
        if "body" not in used:
            raise ValueError("signedTemplate must include {body}")
        if "timestamp" in used and self.timestamp_header is None:
            raise ValueError("signedTemplate uses {timestamp}: give timestampHeader")
        if "delivery_id" in used and self.delivery_id_header is None:
            raise ValueError("signedTemplate uses {delivery_id}: give deliveryIdHeader")
        headers = [self.signature_header, self.timestamp_header, self.delivery_id_header]
        named = [name.lower() for name in headers if name is not None]
        if len(set(named)) != len(named):
            raise ValueError("signatureHeader, timestampHeader and deliveryIdHeader must differ")
        if _RESERVED_HEADERS & set(named):
            raise ValueError("a signature cannot live in Content-Type, Content-Length or Host")
        if self.separator is not None and self.separator in self.signature_prefix:
            raise ValueError("separator must not be part of signaturePrefix")
        if not self.signature_prefix.isprintable():
            raise ValueError("signaturePrefix must be printable text")
        return self


def template_fields(template: str) -> set[str]:
    """The placeholders of `template`; ValueError for any other or a malformed one."""
    used: set[str] = set()
    try:
        parts = list(Formatter().parse(template))
    except ValueError:
        raise ValueError("signedTemplate has an unbalanced brace; write {{ or }}") from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(
                "signedTemplate may use only {body}, {timestamp}, {url}, {delivery_id}"
            )
        if name in used:
            raise ValueError(f"signedTemplate uses {{{name}}} twice")
        used.add(name)
    return used
