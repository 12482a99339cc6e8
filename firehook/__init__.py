"""Firehook: the application shell that wires gateway, scheduler and consumers together."""

__version__ = "0.1.0"
