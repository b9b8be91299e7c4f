"""`soundalike service install|status|uninstall` writes a real unit file (enabling it needs a
user session's systemd, which the tests do not have: --no-start)."""
import plistlib
import subprocess
import sys

from bridge.autostart import launchd_plist, serve_command, systemd_unit


def run(env, *args):
    return subprocess.run([sys.executable, "-m", "bridge", "service", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_install_status_uninstall_systemd_unit(cli_env, tmp_path, library_dir):
    env = dict(cli_env, XDG_CONFIG_HOME=str(tmp_path / "config"))
    unit = tmp_path / "config" / "systemd" / "user" / "soundalike.service"
    proc = run(env, "install", str(library_dir), "--data-dir", str(tmp_path / "d"),
               "--no-start")
    assert proc.returncode == 0, proc.stderr
    text = unit.read_text()
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert f"-m bridge serve {library_dir} --data-dir {tmp_path / 'd'}" in text
    assert sys.executable in text
    assert "installed" in run(env, "status").stdout
    assert run(env, "uninstall").returncode == 0
    assert not unit.exists()
    assert "not installed" in run(env, "status").stdout
    assert "not installed" in run(env, "uninstall").stdout


def test_unit_quotes_paths_with_spaces(tmp_path):
    text = systemd_unit(serve_command([str(tmp_path / "My Samples")], None))
    assert f"'{tmp_path / 'My Samples'}'" in text


def test_launchd_agent_restarts_on_failure(tmp_path):
    plist = plistlib.loads(launchd_plist(serve_command(["/Samples"], None), tmp_path))
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["ProgramArguments"][-2:] == ["serve", "/Samples"]
