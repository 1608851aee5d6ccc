"""A linear-chain CRF over the character positions of a window.

Scores a tag sequence as Σ emission + Σ transition(prev → tag) + start(tag) + end(last).
Transitions the BIO scheme forbids (O → I-x, B-x → I-y) are fixed at -10,000, so the CRF
only learns among valid paths. It runs over the labelled positions only (the first token
of each character), packed to the left, so special tokens and sub-word pieces never enter
it. Decoding uses the codec's Viterbi with these transition scores.
"""
from __future__ import annotations

import torch
from torch import nn

FORBIDDEN = -1e4


def allowed_matrix(labels: list[str]) -> torch.Tensor:
    from .codec import allowed_transition

    return torch.tensor([[allowed_transition(a, b) for b in labels] for a in labels])


class CRF(nn.Module):
    def __init__(self, labels: list[str]):
        super().__init__()
        n = len(labels)
        self.transitions = nn.Parameter(torch.zeros(n, n))
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        self.register_buffer("penalty", (~allowed_matrix(labels)).float() * FORBIDDEN, persistent=False)
        self.register_buffer("start_penalty", torch.tensor(
            [FORBIDDEN if lab.startswith("I-") else 0.0 for lab in labels]), persistent=False)

    def transition_scores(self) -> torch.Tensor:
        return self.transitions + self.penalty

    def start_scores(self) -> torch.Tensor:
        return self.start + self.start_penalty

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood per window. emissions (B,T,L), tags (B,T) with -100 off-label,
        mask (B,T) True at labelled positions. Positions are packed left before scoring."""
        b = emissions.size(0)
        lengths = mask.sum(1)
        t_max = int(lengths.max().item()) if b else 0
        if t_max == 0:
            return emissions.new_zeros(b)
        order = torch.argsort((~mask).int(), dim=1, stable=True)[:, :t_max]  # labelled positions first, in order
        em = emissions.gather(1, order.unsqueeze(-1).expand(-1, -1, emissions.size(-1)))
        tg = tags.gather(1, order).clamp(min=0)
        valid = torch.arange(t_max, device=emissions.device).unsqueeze(0) < lengths.unsqueeze(1)
        trans = self.transition_scores()
        # score of the gold path
        gold = self.start_scores()[tg[:, 0]] + em[:, 0].gather(1, tg[:, :1]).squeeze(1)
        for t in range(1, t_max):
            step = trans[tg[:, t - 1], tg[:, t]] + em[:, t].gather(1, tg[:, t:t + 1]).squeeze(1)
            gold = gold + step * valid[:, t]
        last = tg.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        gold = gold + self.end[last]
        # log partition by the forward algorithm
        alpha = self.start_scores().unsqueeze(0) + em[:, 0]
        for t in range(1, t_max):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + em[:, t]
            alpha = torch.where(valid[:, t:t + 1], nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end.unsqueeze(0), dim=1)
        return (log_z - gold) * (lengths > 0)
