"""The Faust stages get our client settings, including those Faust fixes itself."""
import asyncio

from prometheus_client import CollectorRegistry

from shared.config import Settings
from shared.metrics import StageMetrics
from shared.stream import make_app


def _consumer_of(settings: Settings):
    app = make_app(settings, "cleaner", StageMetrics("cleaner", CollectorRegistry(), consumes=True))

    async def create():  # aiokafka makes its consumer only inside a running loop; nothing connects
        return app.consumer._thread._create_consumer(asyncio.get_running_loop())

    return app, asyncio.run(create())


def test_faust_consumers_fetch_with_our_wait_not_fausts_fixed_1500_ms(tmp_path):
    _, consumer = _consumer_of(Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path, fetch_max_wait_ms=77))
    assert consumer._fetch_max_wait_ms == 77


def test_faust_producers_batch_as_configured(tmp_path):
    app, _ = _consumer_of(Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path,
                                   producer_batch_bytes=100_000, producer_linger_ms=7))
    assert app.conf.producer_max_batch_size == 100_000
    assert app.conf.producer_linger == 0.007


def test_faust_producers_do_not_linger_on_tansu(tmp_path):
    # see make_app: on Tansu a linger stalls aiokafka's sender on a topic created while it runs
    app, _ = _consumer_of(Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path, broker="tansu",
                                   producer_linger_ms=7))
    assert app.conf.producer_linger == 0.0


def test_a_stage_holds_as_many_unhandled_events_as_configured(tmp_path):
    app, _ = _consumer_of(Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path))
    assert app.conf.stream_buffer_maxsize == 64  # not Faust's 4096: whole HTML pages held ~35 MB more
    app, _ = _consumer_of(Settings(kafka_bootstrap="127.0.0.1:1", data_dir=tmp_path, stream_buffer_events=9))
    assert app.conf.stream_buffer_maxsize == 9
