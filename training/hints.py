"""Rule hints: the rule tagger's entities, given to models trained with `rule_hints: true`
as one more input (see model.HintEmbedding). The same function serves training, dev
scoring and tagging, so a model always sees hints made the same way."""
from __future__ import annotations

from typing import Callable

from minzheng_ie.core.record import Doc, Entity

Hinter = Callable[[Doc], list[Entity]]


def rule_hinter(cache: bool = False) -> Hinter:
    """Doc → the rule tagger's entities for its text (the Doc's own entities are ignored).
    With `cache`, results are kept per text — for training, where dev documents are hinted
    after every epoch; a tagger streams documents it sees once and keeps nothing."""
    from minzheng_ie.annotation.rules import RuleTagger

    tagger = RuleTagger()

    def hint(doc: Doc) -> list[Entity]:
        return tagger.entities(Doc(doc.id, doc.text)).entities

    if not cache:
        return hint
    memo: dict[str, list[Entity]] = {}

    def cached(doc: Doc) -> list[Entity]:
        if doc.text not in memo:
            if len(memo) > 256:  # training sees a few hundred documents
                memo.clear()
            memo[doc.text] = hint(doc)
        return memo[doc.text]

    return cached


def within(entities: list[Entity], start: int, end: int) -> list[Entity]:
    """The entities inside [start, end), shifted to offsets relative to `start`."""
    return [Entity(e.start - start, e.end - start, e.label, e.text, e.id, e.score, e.value)
            for e in entities if start <= e.start and e.end <= end]
