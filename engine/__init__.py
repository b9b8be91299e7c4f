"""Soundalike's engine: audio loading, features, encoders, the persisted index and search.

The engine never imports ``bridge`` and never imports TensorFlow at import time.
"""
from .audio import AUDIO_EXTENSIONS, AudioError, load_audio
from .errors import DataDirBusy, EngineError, QueryError
from .index.store import StoreError
from .model.base import Encoder
from .model.registry import ModelError
from .service import Library, Result, Summary

__all__ = ["AUDIO_EXTENSIONS", "AudioError", "DataDirBusy", "Encoder", "EngineError", "Library",
           "ModelError", "QueryError", "Result", "StoreError", "Summary", "load_audio"]
