"""Homeroom protocol."""
