"""JupyterLab settings for reading the book with `make lab` (and for tests/test_lab_browser.py).

`make lab` puts this folder on JUPYTER_CONFIG_PATH, so it adds to a reader's own ~/.jupyter
configuration instead of replacing it (their settings still win where both set something).
Nothing here reaches beyond localhost: a classroom may have no network at all.
"""

import logging
from pathlib import Path

HERE = Path(__file__).resolve().parent
c = get_config()  # noqa: F821  (traitlets defines get_config when it runs this file)

# No "Would you like to get notified about official Jupyter news?" pop-up, no news feed and no
# update check: settings/overrides.json turns both off in the front end (they stay off unless a
# reader switches them on under Settings > Notifications) and the server never fetches either.
c.LabApp.app_settings_dir = str(HERE / "settings")
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# Each kernel used to log "Kernel is running over TCP without encryption" at startup. The
# kernels run on this machine and listen on localhost only; where pyzmq has CurveZMQ (it does in
# the wheels pip installs) the server hands every kernel a fresh key pair and the traffic is
# encrypted, so there is nothing to warn about. Without CurveZMQ the warning stays, and is true.
try:
    import zmq

    if zmq.has("curve"):
        c.MappingKernelManager.transport_encryption = "auto"
except ImportError:  # pragma: no cover - jupyter_server needs pyzmq, so this never happens
    pass


# Two warnings every reader sees and can do nothing about; each is dropped by its exact wording,
# everything else those loggers say still shows.
# - "The websocket_ping_timeout (90000) cannot be longer than the websocket_ping_interval
#   (30000)": jupyter_server counts its keep-alive pings in milliseconds, newer tornado reads the
#   same numbers as seconds and complains. jupyter_server's own 30 s pings keep working.
# - "Notebook 06_attention.ipynb is not trusted": trust covers stored outputs (HTML, JavaScript),
#   and the chapters are stored without any; once a reader saves a notebook it is trusted.
class _DropKnownNoise(logging.Filter):
    NOISE = ("cannot be longer than the websocket_ping_interval", "is not trusted")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(noise in message for noise in self.NOISE)


for _name in ("tornado.general", "ServerApp"):
    logging.getLogger(_name).addFilter(_DropKnownNoise())
