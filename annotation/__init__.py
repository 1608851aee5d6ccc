"""Annotation: Label Studio I/O and validation, the rule pre-annotator, gold passages, inline markup, page furniture."""
