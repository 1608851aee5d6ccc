"""One encoder, two heads: BIO tags over characters and a relation scorer over candidate pairs.

The entity side is a plain `BertForTokenClassification` (or any AutoModelForTokenClassification),
so the saved entity head loads on its own in standard tools. The relation head reads
the same last hidden states:

    pair = [h(head start); h(head end); h(tail start); h(tail end); type(head); type(tail); distance]
    score = MLP(pair) → one logit: linked or not (the label follows from the two types)

With rule hints (`HintEmbedding`), the rule tagger's BIO tag of every character is an input,
twice: embedded and added to the encoder's token embeddings (a lexicon feature, as in
Chinese NER with gazetteer matches), and as a learnt bias added to the token logits,
which starts at `prior` on the hinted tag. So training starts from "copy the rules" and
learns from the gold where they are wrong — the gazetteer and programme lexicon know
names a small model cannot learn from a few thousand labelled characters. Hint id 0 means
"no hint" (codec.NO_HINT) and is row 0 of both, fixed at zero, so a model given no hints
computes exactly what its entity head alone (AutoModelForTokenClassification) computes;
training drops a window's hints with probability `dropout` so that the encoder also
learns to tag without them.

With bigram vectors (`BigramEmbedding`), each character also reads the two character bigrams
it is part of — the one it ends and the one it starts — as word2vec vectors trained on the
whole corpus (training/vectors.py), kept frozen, projected and added to the token embeddings:
the classic lift of Chinese NER before BERT, for a small encoder that has seen far less text
than the vectors have. The projection starts at zero, so training starts from the encoder alone.
The same module carries word features instead (kind "words", `word_features` in the training
config): each character's position in its jieba word and the word's coarse part of speech
(codec.word_features), 28 names with fixed random codes and the same trained projection.

Loss = token cross-entropy + relation_weight × binary cross-entropy on candidates, each
averaged with per-window weights (silver windows count less than gold ones).
No I/O here: persist.py saves and loads.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .codec import LexicalIndex
from .pairs import N_DISTANCE_BUCKETS


@dataclass(frozen=True)
class RelationHeadConfig:
    hidden_size: int
    n_entity_labels: int
    type_dim: int = 32
    distance_dim: int = 32
    mlp_dim: int = 256
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class RelationHead(nn.Module):
    def __init__(self, cfg: RelationHeadConfig):
        super().__init__()
        self.cfg = cfg
        self.type_emb = nn.Embedding(cfg.n_entity_labels, cfg.type_dim)
        self.distance_emb = nn.Embedding(N_DISTANCE_BUCKETS, cfg.distance_dim)
        width = 4 * cfg.hidden_size + 2 * cfg.type_dim + cfg.distance_dim
        self.mlp = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(width, cfg.mlp_dim), nn.GELU(),
                                 nn.Dropout(cfg.dropout), nn.Linear(cfg.mlp_dim, 1))

    def forward(self, hidden: torch.Tensor, pair_tokens: torch.Tensor, pair_types: torch.Tensor,
                pair_distance: torch.Tensor) -> torch.Tensor:
        """hidden (B,T,H); pair_tokens (B,P,4) token positions; pair_types (B,P,2); pair_distance (B,P)
        → logits (B,P). Padding pairs may point anywhere; their logits are ignored by the caller."""
        b, p, _ = pair_tokens.shape
        idx = pair_tokens.clamp(min=0).reshape(b, p * 4, 1).expand(-1, -1, hidden.size(-1))
        spans = hidden.gather(1, idx).reshape(b, p, 4 * hidden.size(-1))
        types = self.type_emb(pair_types.clamp(min=0)).reshape(b, p, -1)
        dist = self.distance_emb(pair_distance.clamp(min=0))
        return self.mlp(torch.cat([spans, types, dist], dim=-1)).squeeze(-1)


class HintEmbedding(nn.Module):
    def __init__(self, n_tags: int, hidden_size: int, dropout: float = 0.2, prior: float = 6.0):
        super().__init__()
        # n_tags BIO tags → ids 1..n_tags (codec.HINT_OFFSET); row 0 ("no hint") stays zero
        self.emb = nn.Embedding(n_tags + 1, hidden_size, padding_idx=0)
        nn.init.zeros_(self.emb.weight)  # the encoder's input is unchanged at first
        self.bias = nn.Embedding(n_tags + 1, n_tags, padding_idx=0)  # hint → bias on each output tag
        with torch.no_grad():  # +prior on the hinted tag (e^6 ≈ 400× its odds) before any training
            self.bias.weight.zero_()
            self.bias.weight[1:] = prior * torch.eye(n_tags)
        self.dropout = dropout

    def forward(self, hints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hint ids (B,T) → (input embedding (B,T,H), logit bias (B,T,n_tags))."""
        if self.training and self.dropout > 0:  # whole windows lose their hints
            keep = torch.rand(hints.size(0), 1, device=hints.device) >= self.dropout
            hints = hints * keep
        return self.emb(hints), self.bias(hints)


class BigramEmbedding(nn.Module):
    """Bigram ids (B,T,2) — per token, the bigram its character ends and the one it starts
    (codec.char_bigram_ids; id 0 = none) → an input embedding (B,T,H).

    `vocab` is the bigram list (id k+1 ↔ vocab[k]); the table holds their vectors and is not
    trained: the gold shows a few thousand of the 60k bigrams, and a frozen table keeps the
    unseen ones where word2vec put them, next to the seen ones they are used like. Cost: one
    lookup and a (2·dim × H) projection a token, ~1% of a 4-layer encoder's work."""

    def __init__(self, vocab: list[str], dim: int, hidden_size: int, vectors: torch.Tensor | None = None,
                 kind: str = "bigram"):
        super().__init__()
        self.vocab = list(vocab)
        self.kind = kind  # "bigram", or "words": jieba word features (codec.word_features) on the same channel
        self.index = LexicalIndex(self.vocab, kind)  # name → id, for the codec
        self.table = nn.Embedding(len(self.vocab) + 1, dim, padding_idx=0)
        with torch.no_grad():
            self.table.weight.zero_()
            if vectors is not None:
                self.table.weight[1:] = vectors
        self.table.weight.requires_grad_(False)
        self.proj = nn.Linear(2 * dim, hidden_size)
        nn.init.zeros_(self.proj.weight)  # the encoder's input is unchanged at first
        nn.init.zeros_(self.proj.bias)

    def forward(self, bigrams: torch.Tensor) -> torch.Tensor:
        return self.proj(self.table(bigrams).flatten(2))


class JointModel(nn.Module):
    # parameters that start at zero with nothing pretrained behind them, and must grow to logit
    # scale (a CRF transition of -3, a hint worth +4 on its tag): the CRF's scores and the hint
    # embedding and bias. train.optimizer gives them their own learning rate.
    FROM_ZERO = ("crf.", "hints.")

    def __init__(self, token_model: nn.Module, relation_head: RelationHead, relation_weight: float = 1.0,
                 crf: nn.Module | None = None, hints: HintEmbedding | None = None,
                 bigrams: BigramEmbedding | None = None):
        super().__init__()
        self.token_model = token_model
        self.relation_head = relation_head
        self.relation_weight = relation_weight
        self.crf = crf  # optional CRF over the token logits (training/crf.py); None: per-token cross-entropy
        self.hints = hints  # optional rule-hint embedding; None: the encoder reads tokens only
        self.bigrams = bigrams  # optional bigram vectors; None: no bigram input

    def encode(self, input_ids, attention_mask, hints=None, bigrams=None):
        """(token logits, last hidden states). Hints are added to the token embeddings when the model
        has them and they are given (hint id 0 adds nothing, so none given = no hints anywhere).
        Bigram vectors always pass the projection when the model has them: a token without a known
        bigram gets the projection's bias, as in training, so none given means id 0 everywhere."""
        extra, bias = [], None
        if self.hints is not None and hints is not None:
            emb, bias = self.hints(hints)
            extra.append(emb)
        if self.bigrams is not None:  # none given: every token has NO_BIGRAM (id 0), as the ONNX graph is fed
            if bigrams is None:
                bigrams = input_ids.new_zeros(*input_ids.shape, 2)
            extra.append(self.bigrams(bigrams))
        if not extra:
            out = self.token_model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        else:
            embeds = self.token_model.get_input_embeddings()(input_ids) + sum(extra)
            out = self.token_model(inputs_embeds=embeds, attention_mask=attention_mask, output_hidden_states=True)
        return (out.logits if bias is None else out.logits + bias), out.hidden_states[-1]

    def forward(self, input_ids, attention_mask, labels=None, pair_tokens=None, pair_types=None,
                pair_distance=None, pair_labels=None, weight=None, hints=None, bigrams=None):
        logits, hidden = self.encode(input_ids, attention_mask, hints, bigrams)
        out = {"logits": logits}
        if pair_tokens is not None and pair_tokens.size(1) > 0:
            out["pair_logits"] = self.relation_head(hidden, pair_tokens, pair_types, pair_distance)
        if labels is None:
            return out
        w = weight if weight is not None else torch.ones(input_ids.size(0), device=input_ids.device)
        # token loss per window (CRF NLL, or cross-entropy averaged over labelled tokens), then a
        # weighted mean over windows; the CRF's NLL is divided by length to stay on the same scale
        mask = labels != -100
        if self.crf is not None:
            per_window = self.crf.nll(logits, labels, mask) / mask.sum(1).clamp(min=1)
        else:
            tok = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
            per_window = (tok * mask).sum(1) / mask.sum(1).clamp(min=1)
        loss = (per_window * w).sum() / w.sum()
        if "pair_logits" in out and pair_labels is not None:
            valid = (pair_labels >= 0).float()
            bce = F.binary_cross_entropy_with_logits(out["pair_logits"], pair_labels.clamp(min=0).float(),
                                                     reduction="none")
            per_window_rel = (bce * valid).sum(1) / valid.sum(1).clamp(min=1)
            has_pairs = (valid.sum(1) > 0).float() * w
            if has_pairs.sum() > 0:
                loss = loss + self.relation_weight * (per_window_rel * has_pairs).sum() / has_pairs.sum()
        out["loss"] = loss
        return out
