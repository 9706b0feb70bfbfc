"""Homeroom agent."""
