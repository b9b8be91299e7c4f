"""Library honours an encoder's default aspect weights (no TensorFlow)."""
import numpy as np

from engine.model.base import Encoder
from engine.service import Library


class TwoAspects(Encoder):
    kind = "two"

    def __init__(self, weights):
        self._w = weights

    model_id = "two-0"
    dim = 4
    aspects = {"timbre": (0, 2), "pitch": (2, 4)}

    @property
    def default_weights(self):
        return self._w

    def features(self, y):
        return np.zeros(4, np.float32)

    def _embed(self, batch):
        return batch


def test_default_weights_shape_a_plain_query(tmp_path):
    lib = Library(tmp_path / "a", encoder=TwoAspects({"timbre": 1.0, "pitch": 0.0}))
    try:
        w = lib.weights_vector()
        assert np.allclose(w, [2, 2, 0, 0])  # all weight on timbre
        assert np.allclose(lib.weights_vector(mode="pitch"), [0, 0, 2, 2])
        assert np.allclose(lib.weights_vector(weights={"pitch": 1.0}), [1, 1, 1, 1])
    finally:
        lib.close()


def test_equal_default_weights_are_plain_cosine(tmp_path):
    lib = Library(tmp_path / "b", encoder=TwoAspects({"timbre": 1.0, "pitch": 1.0}))
    try:
        assert lib.weights_vector() is None
    finally:
        lib.close()


def test_packaged_default_declares_weights_without_loading_a_model(tmp_path):
    from engine.model.registry import PACKAGED_DEFAULT

    lib = Library(tmp_path / "c", model_dir=PACKAGED_DEFAULT)
    try:
        w = lib.default_weights()
        assert set(w) == set(lib.aspects()) and w["timbre"] > 0
        assert not lib.model.loaded  # answered from encoder.json alone
    finally:
        lib.close()
