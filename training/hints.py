"""Rule hints: the rule tagger's entities, given to models trained with `rule_hints: true`
as one more input (see model.HintEmbedding). The same function serves training, dev
scoring and tagging, so a model always sees hints made the same way."""
from __future__ import annotations

from typing import Callable

from minzheng_ie.core.record import Doc, Entity

Hinter = Callable[[Doc], list[Entity]]


def rule_hinter(cache: bool = False, jackknife: list[Doc] | None = None, folds: int = 0,
                seed: int = 13) -> Hinter:
    """Doc → the rule tagger's entities for its text (the Doc's own entities are ignored).
    With `cache`, results are kept per text — for training, where dev documents are hinted
    after every epoch; a tagger streams documents it sees once and keeps nothing.

    With `jackknife` (the train documents) and `folds` ≥ 2, each of those documents is hinted
    by rules whose learnt part (configs/programmes-learned.yaml, annotation/rules/learn.py) was
    learnt from the other folds only. The committed learnt part was learnt from these very
    documents, so in training it would find every name they tag — and the model would learn
    to trust a lexicon that, on a new report, misses the names nobody has seen. Other
    documents (dev, silver, tagging) get the rules as committed."""
    from minzheng_ie.annotation.rules import RuleTagger
    from minzheng_ie.annotation.rules.script import TRADITIONAL_SUFFIX

    tagger = RuleTagger()
    by_doc: dict[str, RuleTagger] = {}
    if jackknife and folds >= 2:  # only training asks: a tagger's start-up reads no learnt settings
        from minzheng_ie.annotation.rules.learn import settings_in_use

        settings = settings_in_use()
        if settings is not None:  # no learnt part: nothing to hold out
            by_doc = _fold_taggers(jackknife, folds, seed, settings)

    def hint(doc: Doc) -> list[Entity]:
        fold_tagger = by_doc.get(doc.id.removesuffix(TRADITIONAL_SUFFIX), tagger)  # a copy: its original's
        return fold_tagger.entities(Doc(doc.id, doc.text)).entities

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


def _fold_taggers(docs: list[Doc], folds: int, seed: int, settings) -> dict:
    """doc id → a RuleTagger whose learnt rules come from the other folds (documents dealt to
    folds in a seeded order), learnt with `settings` (LearnSettings)."""
    import random

    from minzheng_ie.annotation.rules import RuleTagger
    from minzheng_ie.annotation.rules.learn import learnt_rules

    ids = sorted(d.id for d in docs)
    random.Random(seed).shuffle(ids)
    fold_of = {doc_id: i % folds for i, doc_id in enumerate(ids)}
    out = {}
    for k in range(folds):
        tagger = RuleTagger(programmes=learnt_rules([d for d in docs if fold_of[d.id] != k], settings))
        out.update({d.id: tagger for d in docs if fold_of[d.id] == k})
    return out


def within(entities: list[Entity], start: int, end: int) -> list[Entity]:
    """The entities inside [start, end), shifted to offsets relative to `start`."""
    return [Entity(e.start - start, e.end - start, e.label, e.text, e.id, e.score, e.value)
            for e in entities if start <= e.start and e.end <= end]
