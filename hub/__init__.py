"""Homeroom hub."""
