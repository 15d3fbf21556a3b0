"""Linear-chain CRF over BIO tags: negative log-likelihood and Viterbi decoding (no I/O).

Transitions that break BIO (``O`` then ``I-x``, ``B-x`` then ``I-y``) are forbidden by a fixed
mask, in training and decoding alike; the numpy decoder in ``elmol_nlu.crf`` applies the same mask.
"""

from __future__ import annotations

import torch
from torch import nn

from elmol_nlu.vocab import allowed_transition

FORBIDDEN = -1e4


class CRF(nn.Module):
    def __init__(self, tags: list[str]) -> None:
        super().__init__()
        n = len(tags)
        self.transitions = nn.Parameter(torch.zeros(n, n))  # [from, to]
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        allowed = torch.tensor([[allowed_transition(a, b) for b in tags] for a in tags])
        self.register_buffer("transition_mask", torch.where(allowed, 0.0, FORBIDDEN), persistent=False)
        start_ok = torch.tensor([allowed_transition(None, t) for t in tags])
        self.register_buffer("start_mask", torch.where(start_ok, 0.0, FORBIDDEN), persistent=False)

    def constrained(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.start + self.start_mask, self.transitions + self.transition_mask, self.end

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor,
            weights: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over the batch of -log p(tags | emissions), each sentence's times its weight (B,) if given;
        emissions (B, T, K), tags and mask (B, T)."""
        start, trans, end = self.constrained()
        nll = self._log_partition(emissions, mask, start, trans, end) - self._score(emissions, tags, mask, start,
                                                                                      trans, end)
        return (nll if weights is None else nll * weights).mean()

    def _score(self, emissions, tags, mask, start, trans, end) -> torch.Tensor:
        batch = torch.arange(emissions.shape[0])
        maskf = mask.float()
        score = start[tags[:, 0]] + emissions[batch, 0, tags[:, 0]]
        for t in range(1, emissions.shape[1]):
            step = trans[tags[:, t - 1], tags[:, t]] + emissions[batch, t, tags[:, t]]
            score = score + step * maskf[:, t]
        last = tags[batch, mask.sum(1) - 1]
        return score + end[last]

    def _log_partition(self, emissions, mask, start, trans, end) -> torch.Tensor:
        alpha = start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans.unsqueeze(0), dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t : t + 1], nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """Best tag sequence of each sentence, of its own length."""
        start, trans, end = self.constrained()
        score = start + emissions[:, 0]  # (B, K)
        history = []
        for t in range(1, emissions.shape[1]):
            best, idx = (score.unsqueeze(2) + trans.unsqueeze(0)).max(dim=1)
            nxt = best + emissions[:, t]
            history.append(idx)
            score = torch.where(mask[:, t : t + 1], nxt, score)
        score = score + end
        lengths = mask.sum(1).tolist()
        paths = []
        for b, length in enumerate(lengths):
            tag = int(score[b].argmax())
            path = [tag]
            for t in range(length - 1, 0, -1):
                tag = int(history[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])
        return paths
