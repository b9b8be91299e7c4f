"""The encoder interface: per-file features in, L2-normalised embeddings out.

An encoder is two steps so that the cheap, pure part can run in worker threads and the
expensive part can run in batches on the one thread that owns the model:

* ``features(y)``: mono float32 audio at :data:`engine.audio.SAMPLE_RATE` (at most 2 s, from
  where the sound starts) -> one fixed-shape float32 array (for the original autoencoder, a
  256x256x1 mel image).
* ``embed(batch)``: ``(n, *feature_shape)`` -> ``(n, dim)`` float32 embeddings (a subclass
  implements ``_embed``; ``embed`` counts the files in ``embedded``).

The engine L2-normalises whatever ``embed`` returns (per aspect, see ``aspects``), so an
encoder need not.  ``model_id`` names the exact weights: every stored embedding records it and a
change of model re-embeds.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping

import numpy as np


class Encoder(ABC):
    #: short kind name, e.g. "autoencoder", "mfcc"; with the weights' hash it makes model_id
    kind: str = "encoder"
    #: files embedded by this instance (tests use it to see that nothing was embedded twice)
    embedded: int = 0

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identifies the exact model (kind and weights): ``"kind-<hash>"``."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of one embedding."""

    @property
    def aspects(self) -> Mapping[str, tuple[int, int]]:
        """Named slices ``name -> (start, stop)`` of the embedding that a query may weight.

        The default is one aspect, ``timbre``, covering the whole embedding.
        """
        return {"timbre": (0, self.dim)}

    @property
    def default_weights(self) -> Mapping[str, float]:
        return {name: 1.0 for name in self.aspects}

    @abstractmethod
    def features(self, y: np.ndarray) -> np.ndarray:
        """Pure: mono audio -> the model's input array for one file (fixed shape)."""

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """``(n, *feature_shape)`` float32 -> ``(n, dim)`` float32."""
        out = self._embed(np.asarray(batch, dtype=np.float32))
        self.embedded += len(out)
        return out

    @abstractmethod
    def _embed(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`embed` without the bookkeeping: ``batch`` is float32 already."""

    def warm_up(self) -> None:
        """Prepare for the first real call (a Keras model traces its graph); default: nothing."""

    def close(self) -> None:  # pragma: no cover - default: nothing to release
        """Release what the model holds (sessions, threads)."""
