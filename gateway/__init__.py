"""The HTTP edge: management API, public webhook endpoint, auth, OpenAPI."""

from gateway.app import create_app

__all__ = ["create_app"]
