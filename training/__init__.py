"""Turning records into model inputs and training the tagger."""
