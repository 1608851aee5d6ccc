"""Records ↔ model inputs and model outputs ↔ records. The only place BIO exists.

Characters are the words: the tokenizer is called on `list(text)` with
`is_split_into_words=True`, and `word_ids()` maps every token back to its character,
so digits, Latin and spaces never cut a span in a way the labels cannot express.

Two facts of BERT tokenizers shape the decoding:
- whitespace characters produce no token (the pre-tokenizer drops them), so they get
  no prediction; a tokenless character is inside a span exactly when the tokens on
  both sides of it are (`238.0 万个` stays one span);
- a character may produce several tokens; only the first carries the label, the rest
  get -100 and are ignored by the loss.

Long documents are cut into overlapping windows (`stride` tokens shared); each
character's prediction is taken from the window in which it sits farthest from an edge.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Sequence

from minzheng_ie.core.errors import InputError
from minzheng_ie.core.record import Doc, Entity

IGNORE = -100  # label id the loss ignores (transformers' convention)
# Rule-hint ids (model.HintEmbedding): 0 is "no hint" (special tokens, hints dropped, no hinter);
# a hinted tag, O included, is its label id + 1, so "the rules say O here" is a hint too.
NO_HINT, HINT_OFFSET = 0, 1
# Bigram ids (model.BigramEmbedding): 0 is "no bigram" (special tokens, a space on either side,
# the text's edge, or a bigram outside the vocabulary); vocabulary entry k is id k + 1.
NO_BIGRAM = 0
OUTSIDE = "O"


def bio_labels(entity_labels: Sequence[str]) -> list[str]:
    """["O", "B-x", "I-x", ...] in schema order: the classifier's label list."""
    out = [OUTSIDE]
    for lab in entity_labels:
        out += [f"B-{lab}", f"I-{lab}"]
    return out


def doc_to_char_tags(doc: Doc) -> list[str]:
    """One BIO tag per character. Raises ValueError on overlapping entities (BIO cannot hold them)."""
    tags = [OUTSIDE] * len(doc.text)
    for e in sorted(doc.entities, key=lambda e: e.start):
        if any(t != OUTSIDE for t in tags[e.start:e.end]):
            raise ValueError(f"doc {doc.id}: entity {e.text!r} at {e.start}:{e.end} overlaps another entity")
        tags[e.start] = f"B-{e.label}"
        for i in range(e.start + 1, e.end):
            tags[i] = f"I-{e.label}"
    return tags


def char_tags_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Spans from BIO tags. An I- that does not continue a span of its type starts one
    (model output is not always well formed; gold always is)."""
    spans: list[tuple[int, int, str]] = []
    start, label = -1, None
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        kind, _, lab = tag.partition("-")
        continues = kind == "I" and lab == label
        if label is not None and not continues:
            spans.append((start, i, label))
            label = None
        if kind in ("B", "I") and not continues:
            start, label = i, lab
    return spans


def fill_tokenless(tags: list[str | None]) -> list[str]:
    """Tags for characters that got no token (None): inside a span iff both neighbours with
    tokens continue it, else O."""
    out: list[str] = [OUTSIDE] * len(tags)
    prev = OUTSIDE
    i, n = 0, len(tags)
    while i < n:
        if tags[i] is not None:
            out[i] = prev = tags[i]
            i += 1
            continue
        j = i
        while j < n and tags[j] is None:
            j += 1
        nxt = tags[j] if j < n else OUTSIDE
        lab = prev.partition("-")[2]
        if prev != OUTSIDE and nxt == f"I-{lab}":
            for k in range(i, j):
                out[k] = nxt
        i = j
    return out


@dataclass
class Window:
    """One model input: token ids plus, for each token, the character it starts (or None)."""

    input_ids: list[int]
    attention_mask: list[int]
    char_of_token: list[int | None]  # character index if the token is the first of its character
    labels: list[int] | None = None
    hints: list[int] | None = None  # per token: NO_HINT, or HINT_OFFSET + the rule tagger's BIO id
    bigrams: list[list[int]] | None = None  # per token: [id of the bigram ending at its character, id of the one starting there]

    def features(self) -> dict:
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.labels is not None:
            out["labels"] = self.labels
        if self.hints is not None:
            out["hints"] = self.hints
        if self.bigrams is not None:
            out["bigrams"] = self.bigrams
        return out


def char_bigrams(text: str) -> list[str | None]:
    """Per character, the bigram it starts (text[i:i+2]), or None at the end and next to a space:
    a bigram is two adjacent characters, neither a space. The bigram vectors are trained on
    exactly these (vectors.bigram_sentences), so the tagger looks up nothing they could not hold."""
    return [text[i:i + 2] if i + 1 < len(text) and not text[i].isspace() and not text[i + 1].isspace() else None
            for i in range(len(text))]


def char_bigram_ids(text: str, index: dict[str, int]) -> list[int]:
    """Per character, the id of the bigram it starts (`char_bigrams`); NO_BIGRAM where there is none
    or `index` lacks it. The bigram a character ends is its left neighbour's."""
    return [NO_BIGRAM if b is None else index.get(b, NO_BIGRAM) for b in char_bigrams(text)]


# Word features (model.BigramEmbedding of kind "words"): each character's position in its jieba
# word (Begin, Middle, End, Single) and the word's part of speech, coarsened to place (ns),
# organisation (nt), person (nr), numeral (m), measure word (q), verb (v) or other: 4 × 7 = 28
# features, each a two-character name so that they ride the bigram channel unchanged. A
# segmenter's word edges and its place and organisation names are what a character encoder that
# has seen little text lacks. Measured (models/README.md): the tagger learns faster with them and
# ends within noise of the tagger without them.
WORD_CLASSES = (("ns", "p"), ("nt", "o"), ("nr", "n"), ("m", "m"), ("q", "q"), ("v", "v"))
WORD_FEATURES = tuple(pos + cls for pos in "BMES" for cls in "ponmqvx")


def _word_class(flag: str) -> str:
    return next((cls for prefix, cls in WORD_CLASSES if flag.startswith(prefix)), "x")


@cache
def load_jieba(purpose: str):
    """jieba (the `pretrain` extra), imported once with its start-up messages silenced; `purpose`
    says in the error what needs it. Whole-word masking, the pack's word starts and word
    features all segment with it."""
    try:
        import jieba
    except ImportError as exc:
        raise InputError(f"{purpose} needs jieba: pip install -e '.[pretrain]'") from exc
    jieba.setLogLevel(logging.WARNING)
    return jieba


def word_features(text: str) -> list[str]:
    """Per character, its word feature (WORD_FEATURES) from jieba's segmentation with parts of speech."""
    load_jieba("a model with word features")
    import jieba.posseg as posseg

    out: list[str] = []
    for pair in posseg.cut(text):
        cls, n = _word_class(pair.flag), len(pair.word)
        out += [f"S{cls}"] if n == 1 else [f"B{cls}"] + [f"M{cls}"] * (n - 2) + [f"E{cls}"]
    if len(out) != len(text):  # jieba returns the text whole, in order; this guards the alignment
        raise RuntimeError(f"word features: {len(out)} for {len(text)} characters")
    return out


class LexicalIndex(dict):
    """Name → id for a BigramEmbedding's vocabulary, with the kind of name it holds: "bigram"
    (char_bigrams) or "words" (word_features). The codec reads the kind to compute the names."""

    def __init__(self, names: Sequence[str], kind: str = "bigram"):
        super().__init__((name, i + 1) for i, name in enumerate(names))
        self.kind = kind


def char_lexical_ids(text: str, index: dict[str, int]) -> list[int]:
    """Per character, the id its right-hand slot reads: the bigram it starts, or its word feature."""
    if getattr(index, "kind", "bigram") == "words":
        return [index.get(f, NO_BIGRAM) for f in word_features(text)]
    return char_bigram_ids(text, index)


def encode(text: str, tokenizer, *, max_length: int = 512, stride: int = 128,
           tags: Sequence[str] | None = None, label2id: dict[str, int] | None = None,
           hint_tags: Sequence[str] | None = None, bigram_index: dict[str, int] | None = None) -> list[Window]:
    """Windows of token ids for `text`; with `tags` and `label2id`, labels aligned to the first token of
    every character (other tokens and special tokens get IGNORE); with `hint_tags` and `label2id`,
    hint ids the same way (HINT_OFFSET + label id), with NO_HINT where labels have IGNORE; with
    `bigram_index` (bigram → id), each character's left and right bigram ids the same way (with a
    word-feature index, the word features of the character before it and of its own)."""
    if not text:
        return []
    right = char_lexical_ids(text, bigram_index) if bigram_index is not None else None
    enc = tokenizer(list(text), is_split_into_words=True, truncation=True, max_length=max_length,
                    stride=stride, return_overflowing_tokens=True)
    windows = []
    for w in range(len(enc["input_ids"])):
        word_ids = enc.word_ids(w)
        char_of_token: list[int | None] = []
        prev = None
        for wid in word_ids:
            char_of_token.append(wid if wid is not None and wid != prev else None)
            prev = wid
        labels = None
        if tags is not None and label2id is not None:
            labels = [label2id[tags[c]] if c is not None else IGNORE for c in char_of_token]
        hints = None
        if hint_tags is not None and label2id is not None:
            hints = [HINT_OFFSET + label2id[hint_tags[c]] if c is not None else NO_HINT for c in char_of_token]
        bigrams = None
        if right is not None:
            bigrams = [[right[c - 1] if c > 0 else NO_BIGRAM, right[c]] if c is not None else [NO_BIGRAM, NO_BIGRAM]
                       for c in char_of_token]
        windows.append(Window(list(enc["input_ids"][w]), list(enc["attention_mask"][w]), char_of_token, labels,
                              hints, bigrams))
    return windows


def encode_doc(doc: Doc, tokenizer, label2id: dict[str, int], *, max_length: int = 512,
               stride: int = 128, hint_entities: Sequence[Entity] | None = None,
               bigram_index: dict[str, int] | None = None) -> list[Window]:
    return encode(doc.text, tokenizer, max_length=max_length, stride=stride,
                  tags=doc_to_char_tags(doc), label2id=label2id,
                  hint_tags=None if hint_entities is None else entity_char_tags(doc.text, hint_entities),
                  bigram_index=bigram_index)


def entity_char_tags(text: str, entities: Sequence[Entity]) -> list[str]:
    """BIO tags for `entities` over `text`, as hints: an entity that overlaps an earlier one is
    skipped rather than refused (hints come from a tagger, not from checked gold)."""
    tags = [OUTSIDE] * len(text)
    for e in sorted(entities, key=lambda e: (e.start, -e.end)):
        if any(t != OUTSIDE for t in tags[e.start:e.end]):
            continue
        tags[e.start] = f"B-{e.label}"
        for i in range(e.start + 1, e.end):
            tags[i] = f"I-{e.label}"
    return tags


def best_window_index(n_chars: int, windows: Sequence[Window]) -> tuple["np.ndarray", "np.ndarray"]:
    """For every character, (window, token) of its token in the window where it sits farthest
    from either end — the one with the most context on both sides — as two int arrays; -1 where
    the character has no token. Ties go to the earlier window. One numpy pass per window, not a
    Python step per token: 100k characters are ~530 windows of 256, not 135k loop turns."""
    import numpy as np

    best_w = np.full(n_chars, -1, dtype=np.int64)
    best_t = np.full(n_chars, -1, dtype=np.int64)
    margin_of = np.full(n_chars, -1, dtype=np.int64)
    for w, win in enumerate(windows):
        chars = np.array([-1 if c is None else c for c in win.char_of_token], dtype=np.int64)
        t = np.flatnonzero(chars >= 0)
        length = sum(win.attention_mask)
        margin = np.minimum(t, length - 1 - t)
        c = chars[t]
        better = margin > margin_of[c]  # a character has one first token per window: no duplicates in c
        c, t, margin = c[better], t[better], margin[better]
        margin_of[c], best_w[c], best_t[c] = margin, w, t
    return best_w, best_t


def best_window_tokens(n_chars: int, windows: Sequence[Window]) -> list[tuple[int, int] | None]:
    """`best_window_index` as a list of (window, token) or None."""
    best_w, best_t = best_window_index(n_chars, windows)
    return [(int(w), int(t)) if w >= 0 else None for w, t in zip(best_w.tolist(), best_t.tolist())]


def merge_window_predictions(n_chars: int, windows: Sequence[Window],
                             predictions: Sequence[Sequence[int]], id2label: dict[int, str],
                             scores: Sequence[Sequence[float]] | None = None
                             ) -> tuple[list[str], list[float | None]]:
    """Per-character tags (and scores) from per-window token predictions (see best_window_tokens)."""
    tags: list[str | None] = []
    char_scores: list[float | None] = []
    for x in best_window_tokens(n_chars, windows):
        if x is None:
            tags.append(None)
            char_scores.append(None)
        else:
            w, t = x
            tags.append(id2label[int(predictions[w][t])])
            char_scores.append(float(scores[w][t]) if scores is not None else None)
    return fill_tokenless(tags), char_scores


def spans_to_entities(doc_text: str, spans: Sequence[tuple[int, int, str]],
                      char_scores: Sequence[float | None] | None = None) -> list[Entity]:
    """Entities with ids T1.. in text order; score = mean score of the characters that had a token."""
    ents = []
    for i, (s, e, lab) in enumerate(sorted(spans), 1):
        score = None
        if char_scores is not None:
            vals = [v for v in char_scores[s:e] if v is not None]
            score = sum(vals) / len(vals) if vals else None
        ents.append(Entity(s, e, lab, doc_text[s:e], f"T{i}", score))
    return ents


def allowed_transition(prev: str, tag: str) -> bool:
    """BIO: I-x may only follow B-x or I-x."""
    kind, _, lab = tag.partition("-")
    return kind != "I" or prev in (f"B-{lab}", f"I-{lab}")


def viterbi_path(emit: "np.ndarray", transitions: "np.ndarray", start: "np.ndarray",
                 end: "np.ndarray") -> list[int]:
    """Label ids of the best path through `emit` (n × L scores) with `transitions[prev, next]`,
    `start` and `end` scores, in float64. Per character one (L × L) add, one argmax and one
    gather in numpy: about 4 µs for L = 11, against ~40 µs for the same steps over Python lists
    (11 `max` calls of 11 lambdas each). Ties go to the lowest label id, as Python's `max` does."""
    import numpy as np

    n, n_lab = emit.shape
    cols = np.arange(n_lab)
    score = start + emit[0]
    back = np.empty((max(n - 1, 0), n_lab), dtype=np.int64)
    for i in range(1, n):
        cand = score[:, None] + transitions  # cand[k, j]: best path ending in k, then k → j
        ptr = cand.argmax(0)
        back[i - 1] = ptr
        score = cand[ptr, cols] + emit[i]
    j = int((score + end).argmax())
    path = [j]
    for ptr in back[::-1]:
        j = int(ptr[j])
        path.append(j)
    path.reverse()
    return path


def _bio_scores(id2label: dict[int, str], transitions=None, start=None, end=None):
    """Transition, start and end scores (float64) with the BIO scheme's invalid moves at -1e9."""
    import numpy as np

    labels = [id2label[i] for i in range(len(id2label))]
    neg = -1e9
    ok = np.array([[allowed_transition(a, b) for b in labels] for a in labels])
    trans = np.where(ok, np.asarray(transitions, dtype=np.float64) if transitions is not None else 0.0, neg)
    may_start = np.array([allowed_transition(OUTSIDE, lab) for lab in labels])
    first = np.where(may_start, np.asarray(start, dtype=np.float64) if start is not None else 0.0, neg)
    last = np.asarray(end, dtype=np.float64) if end is not None else np.zeros(len(labels))
    return labels, trans, first, last


def viterbi_tags(char_scores: Sequence[Sequence[float] | None], id2label: dict[int, str], *,
                 log_space: bool = False, transitions: Sequence[Sequence[float]] | None = None,
                 start: Sequence[float] | None = None, end: Sequence[float] | None = None) -> list[str | None]:
    """The best *valid* BIO sequence over the characters that have a token.

    `char_scores` are probabilities (log taken here) or, with `log_space`, emission scores
    such as a CRF's logits; `transitions`/`start`/`end` add a CRF's learned scores. Argmax
    per character can produce I-x after O (a fragment); here such paths are impossible.
    Characters without a token (None) are skipped and filled later by `fill_tokenless`.
    Cost: n characters × L² steps (L = 11 labels → 121), done in numpy (`viterbi_path`).
    """
    import numpy as np

    seen = [i for i, p in enumerate(char_scores) if p is not None]
    out: list[str | None] = [None] * len(char_scores)
    if not seen:
        return out
    labels, trans, first, last = _bio_scores(id2label, transitions, start, end)
    emit = np.array([char_scores[i] for i in seen], dtype=np.float64)
    if not log_space:
        emit = np.log(np.maximum(emit, 1e-12))
    for i, j in zip(seen, viterbi_path(emit, trans, first, last)):
        out[i] = labels[j]
    return out


def decode_probabilities(text: str, windows: Sequence[Window], logits: Sequence, id2label: dict[int, str],
                         crf=None) -> list[Entity]:
    """Entities from per-token label logits (per window: a (tokens × labels) array, tensor or
    nested list): each character takes the logits of the window where it sits farthest from an
    edge, then valid-BIO Viterbi decoding — over log-probabilities, or over the logits with a
    CRF's learned transitions when `crf` is given. An entity's score is the mean softmax
    probability of its characters' chosen labels. All per-character work is in numpy."""
    import numpy as np

    best_w, best_t = best_window_index(len(text), windows)
    seen = np.flatnonzero(best_w >= 0)
    raw: list[str | None] = [None] * len(text)
    scores: list[float | None] = [None] * len(text)
    if len(seen):
        n_lab = len(id2label)
        tokens = max(len(w.input_ids) for w in windows)
        stacked = np.zeros((len(windows), tokens, n_lab), dtype=np.float64)
        for k, window_logits in enumerate(logits):
            arr = np.asarray(window_logits, dtype=np.float64)
            stacked[k, :len(arr)] = arr
        char_logits = stacked[best_w[seen], best_t[seen]]  # (characters with a token) × labels
        shifted = char_logits - char_logits.max(1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(1, keepdims=True)
        if crf is None:
            labels, trans, first, last = _bio_scores(id2label)
            path = viterbi_path(np.log(np.maximum(probs, 1e-12)), trans, first, last)
        else:
            labels, trans, first, last = _bio_scores(id2label, crf.transitions.tolist(), crf.start.tolist(),
                                                     crf.end.tolist())
            path = viterbi_path(char_logits, trans, first, last)
        chosen = probs[np.arange(len(seen)), path].tolist()
        for i, j, p in zip(seen.tolist(), path, chosen):
            raw[i] = labels[j]
            scores[i] = p
    return spans_to_entities(text, char_tags_to_spans(fill_tokenless(raw)), scores)


def decode(text: str, windows: Sequence[Window], predictions: Sequence[Sequence[int]],
           id2label: dict[int, str], scores: Sequence[Sequence[float]] | None = None) -> list[Entity]:
    """Entities from the model's per-token label ids over all windows of one document."""
    tags, char_scores = merge_window_predictions(len(text), windows, predictions, id2label, scores)
    return spans_to_entities(text, char_tags_to_spans(tags), char_scores if scores is not None else None)
