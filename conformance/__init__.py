"""Kernel-behaviour conformance suite for zero-copy socket interfaces."""

__version__ = "0.1.0"
