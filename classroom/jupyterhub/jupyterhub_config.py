"""JupyterHub for a class on one machine: every student gets their own Jupyter server and kernel.

Run it from the repository root (docs/instructor-guide.md, "JupyterHub for a class"):

    npm install -g configurable-http-proxy   # the proxy JupyterHub starts in front of itself
    LMKIT_HUB_PASSWORD='a-class-password' .venv/bin/jupyterhub -f classroom/jupyterhub/jupyterhub_config.py

Students open ``http://<this machine>:8000``, pick any user name and type the shared password.
Each one gets JupyterLab with their own copy of the chapters (``~/lmkit-chapters``), running
on the project's ``.venv`` kernel, offline, on the CPU.

Everything is set through environment variables, so the file itself never holds a secret:

- ``LMKIT_HUB_PASSWORD`` (required, 8+ characters): the class's shared password;
- ``LMKIT_HUB_ADMIN_TOKEN``: an API token for the instructor's scripts (the ``lmkit-instructor``
  service, with the admin role: create users, start and stop servers, open their kernels);
- ``LMKIT_HUB_IP`` / ``LMKIT_HUB_PORT`` (``0.0.0.0`` / 8000): where students connect;
  ``LMKIT_HUB_API_PORT`` (8081) and ``LMKIT_HUB_PROXY_API_PORT`` (8001): internal ports;
- ``LMKIT_HUB_STATE`` (``classroom/jupyterhub/state``): database, cookie secret, homes;
- ``LMKIT_HUB_MEM_LIMIT`` (``2G``) / ``LMKIT_HUB_CPU_LIMIT`` (``1``): per student;
- ``LMKIT_HUB_SPAWNER`` (``simple``): ``simple`` runs every server as the hub's own user with
  a home under the state folder (one trusted machine, a workshop); ``systemd``
  (jupyterhub-systemdspawner) or ``docker`` (dockerspawner) enforce the limits, with real
  users or containers (the guide says how).

The simple spawner passes the limits to each server only as ``MEM_LIMIT``/``CPU_LIMIT``
environment variables: it does not enforce them. The systemd and docker spawners do.
"""

# ruff: noqa: F821  (JupyterHub runs this file with `c = get_config()` defined)
from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
STATE = Path(os.environ.get("LMKIT_HUB_STATE", ROOT / "classroom" / "jupyterhub" / "state"))
STATE.mkdir(parents=True, exist_ok=True)
SPAWNERS = {
    "simple": "jupyterhub.spawner.SimpleLocalProcessSpawner",
    "systemd": "systemdspawner.SystemdSpawner",
    "docker": "dockerspawner.DockerSpawner",
}

c = get_config()

# --------------------------------------------------------------------------- network and state
c.JupyterHub.bind_url = (
    f"http://{os.environ.get('LMKIT_HUB_IP', '0.0.0.0')}:{os.environ.get('LMKIT_HUB_PORT', '8000')}"
)
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("LMKIT_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ.get('LMKIT_HUB_PROXY_API_PORT', '8001')}"
)
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
# Stopping the hub stops the students' servers too: a workshop leaves nothing running behind.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# --------------------------------------------------------------------------- who may log in
# One shared password for the room; any user name works, and each name is its own workspace.
# For a course that runs for weeks use accounts instead: NativeAuthenticator (students sign up,
# the instructor approves), FirstUseAuthenticator (the first password a name logs in with
# becomes its password) or PAM (the machine's Unix accounts; JupyterHub's default).
PASSWORD = os.environ.get("LMKIT_HUB_PASSWORD", "")
if len(PASSWORD) < 8:
    raise SystemExit(
        "jupyterhub_config.py: set LMKIT_HUB_PASSWORD to the class's shared password (8 or more "
        "characters), e.g.  LMKIT_HUB_PASSWORD='pick-a-phrase' .venv/bin/jupyterhub -f ..."
    )
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = PASSWORD
c.Authenticator.allow_all = True

admin_token = os.environ.get("LMKIT_HUB_ADMIN_TOKEN")
if admin_token:
    c.JupyterHub.services = [{"name": "lmkit-instructor", "api_token": admin_token}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["lmkit-instructor"]}]

# --------------------------------------------------------------------------- each student's server
c.JupyterHub.spawner_class = SPAWNERS[os.environ.get("LMKIT_HUB_SPAWNER", "simple")]
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/lmkit-chapters"
c.Spawner.start_timeout = 120  # a cold server imports torch; 30 students start at once
c.Spawner.http_timeout = 120
c.Spawner.mem_limit = os.environ.get("LMKIT_HUB_MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(os.environ.get("LMKIT_HUB_CPU_LIMIT", "1"))
if os.getuid() == 0:  # Jupyter refuses to run as root (containers, classroom VMs) unless told
    c.Spawner.args = ["--allow-root"]
c.Spawner.environment = {
    # The project's venv first: its python is the kernel, its jupyter the server.
    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    "JUPYTER_CONFIG_PATH": str(ROOT / "lab_config"),  # no news pop-up, no update check
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LMKIT_DEVICE": os.environ.get("LMKIT_DEVICE", "cpu"),
    # One thread per student: 30 kernels × all cores each would thrash the machine.
    "OMP_NUM_THREADS": "1",
}
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "homes" / "{username}")
c.DockerSpawner.image = os.environ.get("LMKIT_HUB_IMAGE", "lmkit-classroom:latest")


def copy_chapters(spawner) -> None:
    """Give each student their own copy of the chapters on their first start (never overwrite)."""
    home = Path(getattr(spawner, "home_dir", "") or STATE / "homes" / spawner.user.name)
    target = home / "lmkit-chapters"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / "chapters", target)


c.Spawner.pre_spawn_hook = copy_chapters
