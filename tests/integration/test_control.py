"""The supervisor's control channel: real HTTP on 127.0.0.1, real child processes."""
from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request

import orjson
import pytest

from services.supervisor.control import CONTROL_FILE, ControlError, ControlServer, find_supervisor
from services.supervisor.main import Child, Supervisor
from shared.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def supervised(tmp_path):
    settings = Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path)
    supervisor = Supervisor(settings)
    child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], {}, 0)
    child.start()
    supervisor.children.append(child)
    supervisor.control = ControlServer(supervisor, tmp_path)
    supervisor.control.start()
    yield supervisor, child
    supervisor.stop()


def test_the_control_file_leads_to_the_supervisor_and_needs_its_token(supervised, tmp_path):
    supervisor, child = supervised
    path = tmp_path / CONTROL_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    client = find_supervisor(tmp_path)
    status = client.status()
    assert status["services"]["sleeper"]["state"] == "running"
    assert status["settings"]["kafka_bootstrap"] == "127.0.0.1:1"
    info = orjson.loads(path.read_bytes())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(info["url"] + "/status", timeout=5)
    assert refused.value.code == 403
    with pytest.raises(ControlError, match="no service 'nosuch'"):
        client.pause("nosuch")
    with pytest.raises(ControlError, match="not paused"):
        client.resume("sleeper")
    supervisor.control.stop()
    assert not path.exists()
    assert find_supervisor(tmp_path) is None


def test_pause_stops_the_process_resume_starts_it_and_a_lease_runs_out(supervised, tmp_path):
    supervisor, child = supervised
    client = find_supervisor(tmp_path)
    first = child.process
    client.pause("sleeper", lease_s=60)
    assert first.poll() is not None  # stopped before pause() answered
    supervisor.check_children()
    assert child.process is first  # a paused service is not restarted
    assert client.status()["services"]["sleeper"]["state"] == "paused"
    client.resume("sleeper")
    supervisor.check_children()  # the watch loop's turn: it starts the service
    time.sleep(0.3)
    assert child.process is not first and child.process.poll() is None  # and it stays up

    second = child.process
    client.pause("sleeper", lease_s=1)
    client.pause("sleeper", lease_s=60)  # renewed while the caller works
    time.sleep(1.2)
    supervisor.check_children()
    assert child.process is second and client.status()["services"]["sleeper"]["state"] == "paused"
    client.pause("sleeper", lease_s=1)
    time.sleep(1.2)
    supervisor.check_children()  # the lease ran out: back on, so a dead caller cannot keep it off
    assert child.process is not second and child.process.poll() is None
    assert client.status()["services"]["sleeper"]["state"] == "running"
