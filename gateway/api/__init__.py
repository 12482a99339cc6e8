"""The management API, one module per resource."""
