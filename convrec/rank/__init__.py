"""Blended candidates -> ordered, explained recommendations."""
