"""Remote datasets against a local HTTP server on 127.0.0.1 serving tiny fixture files.

Nothing here touches the internet: an autouse fixture makes any connection to a host other
than the loopback address fail the test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import socket
import sys
import tarfile
import threading
import zipfile

import pytest

from lmkit.data import remote
from lmkit.data.remote import REGISTRY, dataset_urls, default_cache_dir, download, load_dataset
from lmkit.errors import (
    CheckpointError,
    ConfigError,
    InputError,
    MissingDependencyError,
    OfflineError,
)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SERVER_LIFETIME_S = 60  # the server shuts itself down after this, whatever happens

# --- fixture files: written here, so the expected parse is known independently -------------

SHAKESPEARE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
)

IMDB_FILES = {
    "aclImdb/train/pos/0_9.txt": ("A lovely film.<br /><br />Go see it.", 1),
    "aclImdb/train/pos/1_8.txt": ("Great acting.", 1),
    "aclImdb/train/neg/2_1.txt": ("Dull and long.", 0),
    "aclImdb/test/pos/3_10.txt": ("Wonderful.", 1),
    "aclImdb/test/neg/4_2.txt": ("Awful script.", 0),
    "aclImdb/test/neg/5_3.txt": ("Boring.", 0),
    "aclImdb/train/unsup/6_0.txt": ("No label here.", None),
}

SST2_TRAIN = [("a gripping tale", 1), ("flat and lifeless", 0), ("warm , funny", 1)]
SST2_DEV = [("not worth it", 0), ("a small gem", 1)]

WIKITEXT = {
    "train": " = Valley = \n\n The valley is long . \n",
    "valid": " = Hill = \n\n A hill . \n",
    "test": " = River = \n\n The river bends . \n",
}


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tsv(rows: list[tuple[str, int]]) -> bytes:
    return ("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows)).encode()


FIXTURES: dict[str, bytes] = {
    "tinyshakespeare.txt": SHAKESPEARE.encode(),
    "aclImdb_v1.tar.gz": _tar_gz({k: v[0].encode() for k, v in IMDB_FILES.items()}),
    "SST-2.zip": _zip(
        {
            "SST-2/train.tsv": _tsv(SST2_TRAIN),
            "SST-2/dev.tsv": _tsv(SST2_DEV),
            "SST-2/test.tsv": b"index\tsentence\n0\tno labels here\n",
        }
    ),
    "wikitext-2-raw-v1.zip": _zip(
        {f"wikitext-2-raw/wiki.{k}.raw": v.encode() for k, v in WIKITEXT.items()}
    ),
}
FILE_FOR = {entry.name: entry.filename for entry in REGISTRY.values()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the local server -----------------------------------------------------------------------


class LocalServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 and counts requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = dict(FIXTURES)
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # the name is fixed by http.server
                outer.requests.append(self.path)
                data = outer.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404, "not here")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.stopper = threading.Timer(SERVER_LIFETIME_S, self.httpd.shutdown)
        self.stopper.daemon = True
        self.stopper.start()

    def count(self, filename: str) -> int:
        return self.requests.count(f"/{filename}")

    def close(self) -> None:
        self.stopper.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    local = LocalServer()
    yield local
    local.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch, tmp_path):
    """Fail on any connection that is not to the loopback address; isolate cache and env."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] in LOOPBACK, f"test tried to reach {address[0]}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("LMKIT_DATA_MIRROR", raising=False)
    monkeypatch.setenv("LMKIT_CACHE", str(tmp_path / "lmkit-cache"))


@pytest.fixture
def pinned(monkeypatch):
    """Registry entries whose SHA-256 and size are those of the fixture files."""
    for entry in list(REGISTRY.values()):
        data = FIXTURES[entry.filename]
        monkeypatch.setitem(
            REGISTRY, entry.name, dataclasses.replace(entry, sha256=_sha(data), size=len(data))
        )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the registry itself --------------------------------------------------------------------


def test_registry_entries_are_complete():
    assert set(REGISTRY) == {"tinyshakespeare", "imdb", "sst2", "wikitext2"}
    for entry in REGISTRY.values():
        assert entry.urls and all(u.startswith("https://") for u in entry.urls)
        assert entry.sha256 is None or (
            len(entry.sha256) == 64 and set(entry.sha256) <= set("0123456789abcdef")
        )
        assert entry.size is None or entry.size > 0
        assert entry.license and entry.filename and entry.splits
        assert "lmkit.data" in entry.offline_alternative
        assert entry.kind in ("text", "labelled")
        assert entry.urls[0].split("?")[0].endswith(entry.filename.split("/")[-1]) or (
            entry.name == "tinyshakespeare"
        )


def test_cache_dir_and_mirror_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LMKIT_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "datasets"
    monkeypatch.delenv("LMKIT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "lmkit" / "datasets"
    assert dataset_urls("sst2") == list(REGISTRY["sst2"].urls)
    monkeypatch.setenv("LMKIT_DATA_MIRROR", "http://127.0.0.1:9/data/")
    assert dataset_urls("sst2") == ["http://127.0.0.1:9/data/SST-2.zip"]
    assert dataset_urls("sst2", mirror="https://m.example") == ["https://m.example/SST-2.zip"]


# --- downloading ----------------------------------------------------------------------------


def test_download_checks_the_checksum_and_reuses_the_cache(server, pinned, tmp_path):
    path = download("tinyshakespeare", mirror=server.url, progress=False)
    assert path.read_bytes() == FIXTURES["tinyshakespeare.txt"]
    assert path.parent == tmp_path / "lmkit-cache" / "datasets"
    assert server.count("tinyshakespeare.txt") == 1
    record = json.loads(path.with_name(path.name + ".sha256.json").read_text())
    assert record["sha256"] == _sha(FIXTURES["tinyshakespeare.txt"])
    assert not list(path.parent.glob("*.part"))

    again = download("tinyshakespeare", mirror=server.url, progress=False)
    assert again == path
    assert server.count("tinyshakespeare.txt") == 1  # served from the cache: no new request

    download("tinyshakespeare", mirror=server.url, progress=False, force=True)
    assert server.count("tinyshakespeare.txt") == 2


def test_progress_bar_names_the_file(server, pinned, capsys):
    download("sst2", mirror=server.url, progress=True)
    assert "SST-2.zip" in capsys.readouterr().err


def test_mirror_from_the_environment(server, pinned, monkeypatch):
    monkeypatch.setenv("LMKIT_DATA_MIRROR", server.url)
    assert load_dataset("tinyshakespeare", progress=False) == SHAKESPEARE
    assert server.count("tinyshakespeare.txt") == 1


def test_imdb_is_parsed_into_labelled_splits(server, pinned):
    for split in ("train", "test"):
        expected = sorted(
            (text.replace("<br />", "\n"), label)
            for name, (text, label) in IMDB_FILES.items()
            if name.split("/")[1] == split and label is not None
        )
        got = load_dataset("imdb", split, mirror=server.url, progress=False)
        assert sorted(got) == expected
    assert server.count("aclImdb_v1.tar.gz") == 1
    assert load_dataset("imdb", mirror=server.url, progress=False)[0][1] in (0, 1)


def test_sst2_train_and_dev_as_test(server, pinned):
    assert load_dataset("sst2", "train", mirror=server.url, progress=False) == SST2_TRAIN
    assert load_dataset("sst2", "test", mirror=server.url, progress=False) == SST2_DEV


def test_wikitext_splits(server, pinned):
    for split, member in (("train", "train"), ("validation", "valid"), ("test", "test")):
        got = load_dataset("wikitext2", split, mirror=server.url, progress=False)
        assert got == WIKITEXT[member]
    assert load_dataset("wikitext2", mirror=server.url, progress=False) == WIKITEXT["train"]


def test_later_urls_are_mirrors_tried_in_order(server, pinned, monkeypatch):
    entry = REGISTRY["tinyshakespeare"]
    urls = (f"{server.url}/moved-away.txt", f"{server.url}/tinyshakespeare.txt")
    monkeypatch.setitem(REGISTRY, entry.name, dataclasses.replace(entry, urls=urls))
    path = download("tinyshakespeare", progress=False)
    assert path.read_bytes() == FIXTURES["tinyshakespeare.txt"]
    assert server.requests == ["/moved-away.txt", "/tinyshakespeare.txt"]


# --- things going wrong ---------------------------------------------------------------------


def test_corrupted_download_is_rejected_and_removed(server, pinned, tmp_path):
    server.files["tinyshakespeare.txt"] = b"these are not the bytes you are looking for"
    with pytest.raises(CheckpointError, match=r"corrupted.*SHA-256.*deleted"):
        download("tinyshakespeare", mirror=server.url, progress=False)
    folder = tmp_path / "lmkit-cache" / "datasets"
    assert list(folder.iterdir()) == []  # neither the final file nor a .part file is left


def test_corrupted_cached_file_is_detected_and_removed(server, pinned):
    path = download("sst2", mirror=server.url, progress=False)
    path.write_bytes(b"bit rot")
    with pytest.raises(CheckpointError, match=r"cached file .* is corrupted"):
        load_dataset("sst2", mirror=server.url, progress=False)
    assert not path.exists()
    assert load_dataset("sst2", mirror=server.url, progress=False) == SST2_TRAIN
    assert server.count("SST-2.zip") == 2


def test_404_raises_checkpoint_error_and_leaves_nothing(server, pinned, tmp_path):
    del server.files["SST-2.zip"]
    with pytest.raises(CheckpointError, match=r"HTTP 404.*LMKIT_DATA_MIRROR"):
        download("sst2", mirror=server.url, progress=False)
    assert list((tmp_path / "lmkit-cache" / "datasets").iterdir()) == []


def test_offline_raises_offline_error_naming_the_alternative(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(OfflineError, match="load_reviews") as info:
        load_dataset("imdb", mirror=url, progress=False)
    message = str(info.value)
    assert "'imdb'" in message and f"{url}/aclImdb_v1.tar.gz" in message
    assert isinstance(info.value, ConnectionError)
    assert list((tmp_path / "lmkit-cache" / "datasets").iterdir()) == []


def test_a_server_that_never_answers_times_out_as_offline():
    with socket.socket() as listener:  # accepts connections (backlog) but never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        # Without the timeout this would hang until pytest-timeout fails the test.
        with pytest.raises(OfflineError, match="stdlib_docstrings"):
            download("wikitext2", mirror=url, progress=False, timeout=0.5)


def test_damaged_archive_with_matching_checksum_is_reported(server, monkeypatch):
    junk = b"not a zip file at all"
    server.files["SST-2.zip"] = junk
    entry = dataclasses.replace(REGISTRY["sst2"], sha256=_sha(junk), size=len(junk))
    monkeypatch.setitem(REGISTRY, "sst2", entry)
    with pytest.raises(CheckpointError, match=r"could not be read.*force=True"):
        load_dataset("sst2", mirror=server.url, progress=False)


# --- entries without a published checksum ---------------------------------------------------


@pytest.fixture
def unpinned(monkeypatch):
    entry = dataclasses.replace(REGISTRY["tinyshakespeare"], sha256=None, size=None)
    monkeypatch.setitem(REGISTRY, "tinyshakespeare", entry)


def test_unpinned_download_records_and_prints_its_checksum(server, unpinned, capsys):
    path = download("tinyshakespeare", mirror=server.url, progress=False)
    expected = _sha(FIXTURES["tinyshakespeare.txt"])
    assert expected in capsys.readouterr().err
    record = json.loads(path.with_name(path.name + ".sha256.json").read_text())
    assert record["sha256"] == expected and record["size"] == len(SHAKESPEARE)

    path.write_bytes(b"changed after the first download")
    with pytest.raises(CheckpointError, match=expected):
        download("tinyshakespeare", mirror=server.url, progress=False)
    assert not path.exists()


def test_unpinned_redownload_must_match_the_first_record(server, unpinned):
    path = download("tinyshakespeare", mirror=server.url, progress=False)
    path.unlink()  # the record stays
    server.files["tinyshakespeare.txt"] = b"a different file upstream"
    with pytest.raises(CheckpointError, match="not the expected file"):
        download("tinyshakespeare", mirror=server.url, progress=False)
    # force=True accepts the new upstream file and records its checksum instead.
    path = download("tinyshakespeare", mirror=server.url, progress=False, force=True)
    record = json.loads(path.with_name(path.name + ".sha256.json").read_text())
    assert record["sha256"] == _sha(b"a different file upstream")


# --- bad input ------------------------------------------------------------------------------


def test_bad_arguments(monkeypatch, tmp_path):
    with pytest.raises(InputError, match="Known datasets: imdb, sst2"):
        download("mnist")
    with pytest.raises(InputError, match=r"splits \('train', 'test'\), got split='dev'"):
        load_dataset("imdb", "dev")
    with pytest.raises(InputError, match="Slice the text yourself"):
        load_dataset("tinyshakespeare", "train")
    with pytest.raises(ConfigError, match="timeout must be a positive number"):
        download("sst2", timeout=0)
    with pytest.raises(ConfigError, match="must be an http"):
        download("sst2", mirror="ftp://example.org")
    with pytest.raises(ConfigError, match="cache_dir must be a path"):
        download("sst2", cache_dir=3)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(ConfigError, match="Cannot write to the dataset cache"):
        download("sst2", cache_dir=blocker / "sub", mirror="http://127.0.0.1:9")


def test_use_hf_needs_the_datasets_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependencyError, match="pip install datasets"):
        load_dataset("imdb", use_hf=True)
    with pytest.raises(ConfigError, match="no Hugging Face datasets version"):
        load_dataset("tinyshakespeare", use_hf=True)


def test_use_hf_converts_rows_to_the_same_format(monkeypatch):
    calls = []

    class FakeTable(dict):
        column_names = property(lambda self: list(self))

    class FakeDatasets:
        @staticmethod
        def load_dataset(repo, config, split, cache_dir):
            calls.append((repo, config, split))
            if repo == "Salesforce/wikitext":
                return FakeTable(text=[" = A = \n", " b . \n"])
            return FakeTable(sentence=["good", "bad"], label=[1, 0], idx=[0, 1])

    monkeypatch.setitem(sys.modules, "datasets", FakeDatasets)
    assert load_dataset("sst2", "test", use_hf=True) == [("good", 1), ("bad", 0)]
    assert load_dataset("wikitext2", "validation", use_hf=True) == " = A = \n b . \n"
    assert calls == [
        ("stanfordnlp/sst2", None, "validation"),
        ("Salesforce/wikitext", "wikitext-2-raw-v1", "validation"),
    ]


def test_remote_module_lists_its_datasets():
    assert remote.list_datasets() == sorted(REGISTRY)
    with pytest.raises(InputError, match="Unknown dataset"):
        remote.dataset_info(None)
