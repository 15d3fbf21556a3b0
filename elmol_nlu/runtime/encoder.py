"""The encoder every skill on one ``encoder_id`` shares: the token graph (char CNN) behind a ``TokenVectorCache``,
then the encoder graph (the language model's biLSTM)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elmol_nlu.manifest import Manifest, ManifestError
from elmol_nlu.runtime.sessions import check_io, open_session
from elmol_nlu.runtime.token_cache import TokenVectorCache
from elmol_nlu.text import Token, char_ids


@dataclass(frozen=True)
class Chunk:
    """One encoder call: the layers (L, b, t, E) of ``rows`` of the batch, and their lengths."""

    layers: np.ndarray
    lengths: np.ndarray
    rows: slice


class Encoder:
    """The token graph (run only for words the ``TokenVectorCache`` has not seen) and the encoder graph."""

    def __init__(self, manifest: Manifest, threads: int, cache_size: int, precision: str, verify_gate: bool,
                 spelling: bool = True) -> None:
        self.encoder_id, self.precision, self.max_chars = manifest.encoder_id, precision, manifest.max_chars
        # words the cache has not seen are spell-corrected before the char CNN reads them (elmol_nlu.spelling)
        self.spelling = manifest.spelling() if spelling else None
        token_path, encoder_path = (manifest.graph_path(r, precision, verify_gate) for r in ("tokens", "encoder"))
        self.token_session = open_session(token_path, threads)
        self.session = open_session(encoder_path, threads)
        check_io(self.token_session, token_path, ["chars"], {"vectors"})
        check_io(self.session, encoder_path, ["tokens", "lengths"], {"layers"})
        dim = self.session.get_inputs()[0].shape[-1]
        token_dim = self.token_session.get_outputs()[0].shape[-1]  # symbolic after the char CNN's reshape
        if isinstance(token_dim, int) and token_dim != dim:
            raise ManifestError(f"{token_path} gives {token_dim}-d vectors, {encoder_path} takes {dim}: re-export")
        self.token_cache = TokenVectorCache(self._token_vectors, dim, manifest.warm_words, cache_size)

    def _token_vectors(self, words: list[str]) -> np.ndarray:
        if self.spelling is not None:
            words = [self.spelling.correct(w) for w in words]
        return self.token_session.run(None, {"chars": char_ids(words, self.max_chars)})[0]

    def feeds(self, token_lists: list[list[Token]]) -> list[tuple[dict[str, np.ndarray], slice]]:
        """The encoder's inputs for tokenised sentences (each non-empty), and the batch rows each one covers.

        Each sentence's layers are the same alone or in any batch: fp32 pads and masks; int8 quantises
        activations with one scale per call, so it runs one call per sentence (batching gains it nothing).
        """
        lengths = np.array([len(toks) for toks in token_lists], dtype=np.int64)
        vectors = self.token_cache.lookup([t.text for toks in token_lists for t in toks])
        if self.precision == "fp32" and len(token_lists) > 1:
            tokens = np.zeros((len(token_lists), int(lengths.max()), vectors.shape[1]), dtype=np.float32)
            tokens[np.arange(tokens.shape[1])[None, :] < lengths[:, None]] = vectors  # padding stays 0: masked out
            return [({"tokens": tokens, "lengths": lengths}, slice(0, len(lengths)))]
        if len(token_lists) == 1:
            return [({"tokens": vectors[None], "lengths": lengths}, slice(0, 1))]
        ends = np.cumsum(lengths).tolist()  # one sentence a call: its rows of ``vectors``, no padding
        return [({"tokens": vectors[None, end - n : end], "lengths": lengths[i : i + 1]}, slice(i, i + 1))
                for i, (n, end) in enumerate(zip(lengths.tolist(), ends, strict=True))]

    def encode(self, token_lists: list[list[Token]]) -> list[Chunk]:
        """The encoder's layers for tokenised sentences (each non-empty), one chunk per call (see ``feeds``)."""
        return [Chunk(self.session.run(None, feed)[0], feed["lengths"], rows) for feed, rows in self.feeds(token_lists)]
