"""Scoring systems against gold."""
