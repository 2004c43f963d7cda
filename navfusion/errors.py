"""The error type users see: one line that names the bad file / field / value and what is allowed."""

from __future__ import annotations


class NavFusionError(Exception):
    """A user-facing error. The CLI prints its message on one line (tracebacks only with ``--debug``)."""


class ConfigError(NavFusionError, ValueError):
    """A configuration field has a bad value."""
