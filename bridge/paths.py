"""Where Soundalike keeps its files: resolved on demand, never at import time."""
from __future__ import annotations

import os
from pathlib import Path

APP = "soundalike"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$SOUNDALIKE_DATA_DIR``, else the platform's user data folder."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get("SOUNDALIKE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_file() -> Path:
    """``$SOUNDALIKE_CONFIG``, else ``config.toml`` in the platform's user config folder."""
    env = os.environ.get("SOUNDALIKE_CONFIG")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml"


def log_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def model_override() -> Path | None:
    """``$SOUNDALIKE_MODEL``: a model directory to use instead of the active one."""
    env = os.environ.get("SOUNDALIKE_MODEL")
    return Path(env).expanduser().resolve() if env else None
