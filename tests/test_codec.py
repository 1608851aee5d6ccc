"""The codec is lossless: records → BIO → token labels → (as if predicted) → records."""
import pytest

from minzheng_ie.core.record import Doc
from minzheng_ie.core.schema import load_schema
from minzheng_ie.training.codec import (IGNORE, bio_labels, char_tags_to_spans, decode, decode_probabilities,
                                        doc_to_char_tags, encode_doc, fill_tokenless, viterbi_tags)

from conftest import make_tokenizer

LABELS = bio_labels(load_schema().entity_labels)
LABEL2ID = {lab: i for i, lab in enumerate(LABELS)}
ID2LABEL = dict(enumerate(LABELS))


def round_trip(doc: Doc, tokenizer, max_length=512, stride=128) -> list[tuple[int, int, str]]:
    windows = encode_doc(doc, tokenizer, LABEL2ID, max_length=max_length, stride=stride)
    # Use the gold labels as if they were predictions; positions the loss ignores get O.
    preds = [[lab if lab != IGNORE else 0 for lab in w.labels] for w in windows]
    return [e.span for e in decode(doc.text, windows, preds, ID2LABEL)]


def test_bio_round_trip_at_character_level(fixture_docs, gold_docs):
    for doc in fixture_docs + gold_docs:
        tags = doc_to_char_tags(doc)
        assert char_tags_to_spans(tags) == sorted(e.span for e in doc.entities), doc.id


def test_adjacent_entities_of_one_type_stay_apart(fixture_docs):
    doc = next(d for d in fixture_docs if d.id == "adjacent")
    tags = doc_to_char_tags(doc)
    assert tags[:4] == ["B-region", "I-region", "B-region", "I-region"]


@pytest.mark.parametrize("max_length,stride", [(512, 128), (24, 8), (12, 4)])
def test_token_round_trip_is_lossless_on_fixtures(fixture_docs, max_length, stride):
    tok = make_tokenizer([d.text for d in fixture_docs])
    for doc in fixture_docs:
        assert round_trip(doc, tok, max_length, stride) == sorted(e.span for e in doc.entities), doc.id


def test_token_round_trip_is_lossless_on_the_gold_corpus(gold_docs):
    tok = make_tokenizer([d.text for d in gold_docs])
    for doc in gold_docs:
        # 256-token windows with a 64-token stride: every gold document needs many windows
        spans = round_trip(doc, tok, 256, 64)
        assert spans == sorted(e.span for e in doc.entities), doc.id


def test_internal_space_is_inside_the_span_and_whitespace_has_no_token(fixture_docs):
    doc = next(d for d in fixture_docs if d.id == "spaces")
    tok = make_tokenizer([doc.text])
    windows = encode_doc(doc, tok, LABEL2ID)
    seen_chars = {c for w in windows for c in w.char_of_token if c is not None}
    spaces = [i for i, ch in enumerate(doc.text) if ch.isspace()]
    assert spaces and not seen_chars & set(spaces)
    assert ("238.0 万个" in [e.text for e in doc.entities])
    assert round_trip(doc, tok) == sorted(e.span for e in doc.entities)


def test_unknown_characters_still_get_a_label():
    doc = Doc("u", "新建𠀀家")
    doc.add(2, 4, "count")
    tok = make_tokenizer(["新建"])  # 𠀀 and 家 are [UNK]
    assert round_trip(doc, tok) == [(2, 4, "count")]


def test_fill_tokenless_only_bridges_inside_a_span():
    assert fill_tokenless(["B-count", None, "I-count"]) == ["B-count", "I-count", "I-count"]
    assert fill_tokenless(["B-count", None, "B-count"]) == ["B-count", "O", "B-count"]
    assert fill_tokenless([None, "I-count"]) == ["O", "I-count"]


def test_overlapping_entities_cannot_be_encoded():
    doc = Doc("o", "重庆市低保")
    doc.add(0, 3, "region")
    doc.add(1, 4, "programme")
    with pytest.raises(ValueError, match="overlaps"):
        doc_to_char_tags(doc)


def test_malformed_predictions_decode_to_spans():
    assert char_tags_to_spans(["I-amount", "I-amount", "O", "I-count", "B-count"]) == [
        (0, 2, "amount"), (3, 4, "count"), (4, 5, "count")]


def test_constrained_decoding_never_starts_a_span_with_i():
    id2label = ID2LABEL

    def dist(**weights):
        p = [0.01] * len(LABELS)
        for name, w in weights.items():
            p[LABEL2ID[name.replace("_", "-")]] = w
        return p

    # argmax would say O, I-count, I-count: a fragment with no B-
    probs = [dist(O=0.9), dist(I_count=0.6, B_count=0.3), dist(I_count=0.9), dist(O=0.9)]
    tags = viterbi_tags(probs, id2label)
    assert tags == ["O", "B-count", "I-count", "O"]
    assert viterbi_tags([None, dist(I_count=0.7, B_count=0.2)], id2label) == [None, "B-count"]


def test_probability_decoding_round_trips_the_gold(gold_docs):
    tok = make_tokenizer([d.text for d in gold_docs])
    for doc in gold_docs[:2]:
        windows = encode_doc(doc, tok, LABEL2ID, max_length=128, stride=32)
        one_hot = [[[1.0 if k == (lab if lab != IGNORE else 0) else 0.0 for k in range(len(LABELS))]
                     for lab in w.labels] for w in windows]
        ents = decode_probabilities(doc.text, windows, one_hot, ID2LABEL)
        assert [e.span for e in ents] == sorted(e.span for e in doc.entities)


def test_hints_align_like_labels_and_round_trip(fixture_docs, gold_docs):
    """Hint ids are label ids + HINT_OFFSET on exactly the tokens that carry labels, NO_HINT
    elsewhere; decoded back they give the hinted entities. Overlapping hints keep the first."""
    from minzheng_ie.core.record import Entity
    from minzheng_ie.training.codec import HINT_OFFSET, NO_HINT, entity_char_tags

    tok = make_tokenizer([d.text for d in fixture_docs + gold_docs])
    for doc in fixture_docs + gold_docs[:2]:
        windows = encode_doc(doc, tok, LABEL2ID, max_length=64, stride=16, hint_entities=doc.entities)
        for w in windows:
            assert [h - HINT_OFFSET if h != NO_HINT else IGNORE for h in w.hints] == w.labels
        preds = [[h - HINT_OFFSET if h != NO_HINT else 0 for h in w.hints] for w in windows]
        assert [e.span for e in decode(doc.text, windows, preds, ID2LABEL)] == sorted(e.span for e in doc.entities)
    text = "城乡低保资金"
    overlapping = [Entity(0, 4, "programme", "城乡低保"), Entity(2, 6, "amount", "低保资金")]
    assert entity_char_tags(text, overlapping) == ["B-programme", "I-programme", "I-programme", "I-programme", "O", "O"]


def test_bigram_ids_are_each_characters_left_and_right_bigram(fixture_docs, gold_docs):
    """Every first token of a character carries [id of text[c-1:c+1], id of text[c:c+2]]; a space
    on either side, the text's edges, other tokens and bigrams outside the index give NO_BIGRAM."""
    from minzheng_ie.training.codec import NO_BIGRAM, char_bigram_ids, encode

    tok = make_tokenizer([d.text for d in fixture_docs + gold_docs])
    texts = [d.text for d in fixture_docs + gold_docs[:1]]
    grams = sorted({t[i:i + 2] for t in texts for i in range(len(t) - 1)})
    index = {g: k + 1 for k, g in enumerate(g for g in grams if not any(c.isspace() for c in g))}
    for text in texts:
        right = char_bigram_ids(text, index)
        for w in encode(text, tok, max_length=24, stride=8, bigram_index=index):
            for c, pair in zip(w.char_of_token, w.bigrams):
                if c is None:
                    assert pair == [NO_BIGRAM, NO_BIGRAM]
                else:
                    assert pair == [right[c - 1] if c else NO_BIGRAM, right[c]]
        for i, g in enumerate(right):
            pair = text[i:i + 2]
            assert g == (index[pair] if len(pair) == 2 and not any(ch.isspace() for ch in pair) else NO_BIGRAM)
    astral = "𠀀村𠀀𠀀镇"
    assert char_bigram_ids(astral, {"𠀀村": 1, "𠀀𠀀": 2}) == [1, 0, 2, 0, 0]  # code points, not UTF-16 units
    assert char_bigram_ids("低保 620元", {"低保": 1, "保 ": 2, "62": 3}) == [1, 0, 0, 3, 0, 0, 0]
    assert encode("低保", tok, max_length=8, stride=2)[0].bigrams is None  # no index, no bigrams


def test_word_features_give_every_character_its_jieba_word_position_and_class(fixture_docs):
    """One feature per code point, whatever the text holds (digits, Latin, spaces, traditional
    script, an astral character, line breaks); words run B M… E or stand alone as S; a word-feature
    index makes the codec read features where a bigram index makes it read bigrams."""
    pytest.importorskip("jieba")
    from minzheng_ie.training.codec import (NO_BIGRAM, WORD_FEATURES, LexicalIndex, char_lexical_ids, encode,
                                            word_features)

    for d in fixture_docs:
        feats = word_features(d.text)
        assert len(feats) == len(d.text) and set(feats) <= set(WORD_FEATURES)
        for prev, cur in zip(["S"] + [f[0] for f in feats], [f[0] for f in feats]):
            assert (cur in "BS") == (prev in "ES")  # a word starts exactly where the last one ended
    assert word_features("重庆市发放低保") == ["Bp", "Mp", "Ep", "Bv", "Ev", "Bv", "Ev"]  # 重庆市: a place
    index = LexicalIndex(WORD_FEATURES, "words")
    assert index["Bp"] == 1 and index.kind == "words" and LexicalIndex(["低保"]).kind == "bigram"
    text = fixture_docs[0].text
    own = char_lexical_ids(text, index)
    assert own == [index[f] for f in word_features(text)]
    tok = make_tokenizer([text])
    for w in encode(text, tok, max_length=24, stride=8, bigram_index=index):
        for c, pair in zip(w.char_of_token, w.bigrams):
            assert pair == ([own[c - 1] if c else NO_BIGRAM, own[c]] if c is not None else [NO_BIGRAM, NO_BIGRAM])


def test_viterbi_path_is_the_best_path_by_enumeration():
    """The numpy Viterbi against scoring every path of small random problems (L³·⁶ paths)."""
    import itertools

    import numpy as np

    from minzheng_ie.training.codec import viterbi_path

    rng = np.random.default_rng(7)
    for n, n_lab in ((1, 3), (2, 4), (5, 3), (6, 4)):
        emit, trans = rng.normal(size=(n, n_lab)), rng.normal(size=(n_lab, n_lab))
        start, end = rng.normal(size=n_lab), rng.normal(size=n_lab)
        trans[0, 1] = -1e9  # a forbidden move must never be taken

        def total(path):
            return (start[path[0]] + sum(emit[i, j] for i, j in enumerate(path))
                    + sum(trans[a, b] for a, b in zip(path, path[1:])) + end[path[-1]])

        best = max(itertools.product(range(n_lab), repeat=n), key=total)
        assert viterbi_path(emit, trans, start, end) == list(best)


def test_each_character_is_read_where_it_has_the_most_context(gold_docs):
    """best_window_index: the window where the character's token is farthest from an edge."""
    from minzheng_ie.training.codec import best_window_index, encode

    tok = make_tokenizer([d.text for d in gold_docs])
    text = gold_docs[0].text[:600]
    windows = encode(text, tok, max_length=64, stride=16)
    assert len(windows) > 3
    best_w, best_t = best_window_index(len(text), windows)
    for c in range(len(text)):
        places = [(min(t, sum(w.attention_mask) - 1 - t), -k, k, t) for k, w in enumerate(windows)
                  for t, ch in enumerate(w.char_of_token) if ch == c]
        if not places:
            assert best_w[c] == -1 and best_t[c] == -1
            continue
        _, _, k, t = max(places)  # most margin; the earlier window on a tie
        assert (best_w[c], best_t[c]) == (k, t)
