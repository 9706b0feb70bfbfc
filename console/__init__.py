"""Homeroom console."""
