"""``soundalike service install|uninstall|status``: run ``serve`` at login.

Linux: a systemd user unit (~/.config/systemd/user/soundalike.service), enabled and started
with ``systemctl --user``.  macOS: a launchd agent (~/Library/LaunchAgents/...plist) loaded with
``launchctl``.  Both restart the daemon when it fails.  The service's command is this Python's
``-m bridge serve`` so it runs in the environment Soundalike was installed into.
"""
from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import UserError

UNIT_NAME = "soundalike.service"
AGENT_LABEL = "org.soundalike.daemon"


def serve_command(folders: list[str], data_dir: str | None) -> list[str]:
    cmd = [sys.executable, "-m", "bridge", "serve", *[os.path.abspath(f) for f in folders]]
    if data_dir:
        cmd += ["--data-dir", os.path.abspath(os.path.expanduser(data_dir))]
    return cmd


def systemd_unit(command: list[str]) -> str:
    return f"""[Unit]
Description=Soundalike: finds similar-sounding samples, answers over OSC
After=default.target

[Service]
Type=simple
ExecStart={' '.join(shlex.quote(c) for c in command)}
Restart=on-failure
RestartSec=3
Nice=5
KillSignal=SIGTERM
TimeoutStopSec=15

[Install]
WantedBy=default.target
"""


def launchd_plist(command: list[str], log_dir: Path) -> bytes:
    return plistlib.dumps({
        "Label": AGENT_LABEL,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Background",
        "Nice": 5,
        "StandardErrorPath": str(log_dir / "launchd-stderr.log"),
    })


def unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME


def agent_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"


def _run(cmd: list[str]) -> tuple[bool, str]:
    if shutil.which(cmd[0]) is None:
        return False, f"{cmd[0]} not found"
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


def _uninstall(path: Path, *, stop: list[str], then: list[str] | None = None) -> int:
    """Stop the service with ``stop``, remove its file, then run ``then`` (if given)."""
    if not path.exists():
        print("not installed")
        return 0
    _run(stop)
    path.unlink()
    if then:
        _run(then)
    print(f"removed {path}")
    return 0


def service_command(args) -> int:
    if sys.platform == "darwin":
        return _launchd(args)
    if sys.platform.startswith("linux"):
        return _systemd(args)
    raise UserError(f"background services are supported on Linux and macOS, not {sys.platform}")


def _systemd(args) -> int:
    path = unit_path()
    if args.action == "install":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(systemd_unit(serve_command(args.folders, args.data_dir)),
                        encoding="utf-8")
        print(f"wrote {path}")
        if args.no_start:
            return 0
        ok, msg = _run(["systemctl", "--user", "daemon-reload"])
        if ok:
            ok, msg = _run(["systemctl", "--user", "enable", "--now", UNIT_NAME])
        if not ok:
            raise UserError(f"wrote {path} but could not enable it ({msg}); run "
                            f"`systemctl --user enable --now {UNIT_NAME}` in your session")
        print("enabled and started: it will start at every login")
        return 0
    if args.action == "uninstall":
        return _uninstall(path, stop=["systemctl", "--user", "disable", "--now", UNIT_NAME],
                          then=["systemctl", "--user", "daemon-reload"])
    if not path.exists():
        print("not installed")
        return 0
    ok, msg = _run(["systemctl", "--user", "is-active", UNIT_NAME])
    print(f"installed: {path}\nstate: {msg or ('active' if ok else 'unknown')}")
    return 0


def _launchd(args) -> int:
    from .paths import log_dir

    path = agent_path()
    if args.action == "install":
        path.parent.mkdir(parents=True, exist_ok=True)
        logs = log_dir()
        logs.mkdir(parents=True, exist_ok=True)
        path.write_bytes(launchd_plist(serve_command(args.folders, args.data_dir), logs))
        print(f"wrote {path}")
        if args.no_start:
            return 0
        _run(["launchctl", "unload", str(path)])
        ok, msg = _run(["launchctl", "load", "-w", str(path)])
        if not ok:
            raise UserError(f"wrote {path} but launchctl could not load it ({msg})")
        print("loaded: it will start at every login")
        return 0
    if args.action == "uninstall":
        return _uninstall(path, stop=["launchctl", "unload", "-w", str(path)])
    if not path.exists():
        print("not installed")
        return 0
    ok, msg = _run(["launchctl", "list", AGENT_LABEL])
    print(f"installed: {path}\nstate: {'loaded' if ok else 'not loaded'}")
    return 0
