"""Soundalike's engine: audio loading, features, encoders, the persisted index and search.

The engine never imports ``bridge`` and never imports TensorFlow at import time.
"""
from .audio import AUDIO_EXTENSIONS, AudioError, load_audio
from .index.store import StoreError
from .model.base import Encoder
from .model.registry import ModelError
from .service import Library, QueryError, Result, Summary

__all__ = ["AUDIO_EXTENSIONS", "AudioError", "Encoder", "Library", "ModelError", "QueryError",
           "Result", "StoreError", "Summary", "load_audio"]
