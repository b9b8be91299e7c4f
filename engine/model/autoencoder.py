"""The original design's convolutional autoencoder (see ORIGIN.md), in Keras.

Encoder: four 3x3 'same' ReLU Conv2D layers (128, 64, 32, 16 filters), each followed by 2x2 max
pooling: a 256x256x1 mel image becomes a 16x16x16 code, flattened to 4,096 values, the embedding.
The decoder mirrors it with 2x2 up-sampling and ends in a linear 1-filter Conv2D.  About 198,000
parameters; Adam, mean squared error, batch 32, 80/20 train/validation split.

TensorFlow is imported inside the functions only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..features import mel_image
from .base import Encoder
from .registry import weights_hash, write_spec

WEIGHTS = "autoencoder.weights.h5"
INPUT_SHAPE = (256, 256, 1)


def configure_tensorflow(threads: int | None = None) -> None:
    """Quiet TensorFlow's logging and bound its thread pools (call before building models)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised: keep the existing pools
            pass


def build_autoencoder():
    """(autoencoder, encoder) Keras models sharing layers."""
    import keras
    from keras import layers

    inp = keras.Input(shape=INPUT_SHAPE)
    x = inp
    for filters in (128, 64, 32, 16):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    code = x
    for filters in (16, 32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.UpSampling2D(2)(x)
    out = layers.Conv2D(1, 3, padding="same", activation=None)(x)
    autoencoder = keras.Model(inp, out, name="autoencoder")
    encoder = keras.Model(inp, layers.Flatten()(code), name="encoder")
    return autoencoder, encoder


class AutoencoderEncoder(Encoder):
    kind = "autoencoder"

    def __init__(self, autoencoder, encoder, *, model_id: str = "autoencoder-untrained",
                 batch_size: int = 8) -> None:
        self._autoencoder = autoencoder
        self._encoder = encoder
        self._model_id = model_id
        self.batch_size = batch_size

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return 16 * 16 * 16

    def features(self, y: np.ndarray) -> np.ndarray:
        return mel_image(y)

    def _embed(self, batch: np.ndarray) -> np.ndarray:
        batch = batch.reshape((-1, *INPUT_SHAPE))
        out = []
        # small batches: one 32 x 256 x 256 x 128 activation alone is 1 GB
        for i in range(0, batch.shape[0], self.batch_size):
            out.append(np.asarray(self._encoder(batch[i:i + self.batch_size], training=False)))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim),
                                                                            np.float32)

    def save(self, model_dir) -> None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        weights = model_dir / WEIGHTS
        self._autoencoder.save_weights(str(weights))
        self._model_id = f"autoencoder-{weights_hash(weights)}"
        write_spec(model_dir, {"kind": self.kind, "model_id": self._model_id,
                               "input_shape": list(INPUT_SHAPE)})


def load(model_dir: Path) -> AutoencoderEncoder:
    configure_tensorflow()
    spec = json.loads((Path(model_dir) / "encoder.json").read_text(encoding="utf-8"))
    autoencoder, encoder = build_autoencoder()
    autoencoder.load_weights(str(Path(model_dir) / WEIGHTS))
    return AutoencoderEncoder(autoencoder, encoder, model_id=spec["model_id"])


def train(images: np.ndarray, *, epochs: int = 10, batch_size: int = 32,
          validation_split: float = 0.2, seed: int = 0,
          on_epoch: Callable[[int, int, dict], None] | None = None,
          verbose: int = 0) -> tuple[AutoencoderEncoder, list[dict]]:
    """Train the original autoencoder on ``images`` ((n, 256, 256, 1) float32 in [0, 1]).

    Returns the trained encoder and the per-epoch history (``loss``, ``val_loss``).
    ``on_epoch(epoch, epochs, logs)`` is called after each epoch (1-based).
    """
    configure_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    images = np.asarray(images, dtype=np.float32).reshape((-1, *INPUT_SHAPE))
    rng = np.random.default_rng(seed)
    images = images[rng.permutation(images.shape[0])]
    autoencoder, encoder = build_autoencoder()
    autoencoder.compile(optimizer="adam", loss="mse")
    history: list[dict] = []

    class _Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            history.append(logs)
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, logs)

    split = validation_split if images.shape[0] >= 5 else 0.0
    autoencoder.fit(images, images, epochs=epochs, batch_size=batch_size,
                    validation_split=split, shuffle=True, verbose=verbose,
                    callbacks=[_Report()])
    return AutoencoderEncoder(autoencoder, encoder), history


def train_files(paths: list[str], *, epochs: int = 10, on_epoch=None, on_load=None,
                seed: int = 0) -> AutoencoderEncoder:
    """Train on audio files (the ``soundalike train`` entry point for this kind)."""
    from ..training import load_features

    images, _ = load_features(paths, mel_image, on_load=on_load)
    encoder, _ = train(images, epochs=epochs, seed=seed, on_epoch=on_epoch)
    return encoder
