"""Batch tagging: documents in, normalised records out."""
