"""`newsflow status` from scrapes: rates, lag, last error, feeds (no process needed)."""
from __future__ import annotations

from services.status.main import Endpoint, _endpoint
from services.status.report import Scrape, age, feed_health, parse, render, stage_lines


def exposition(stage: str, messages_in: float, *, lag=(0, 0.0), failures=(), extra: str = "") -> str:
    text = f"""# TYPE newsflow_build_info gauge
newsflow_build_info{{stage="{stage}",version="0.1.0"}} 1.0
# TYPE newsflow_messages_in_total counter
newsflow_messages_in_total{{stage="{stage}"}} {messages_in}
# TYPE newsflow_messages_out_total counter
newsflow_messages_out_total{{stage="{stage}"}} {messages_in / 2}
# TYPE newsflow_consumer_lag_messages gauge
newsflow_consumer_lag_messages{{stage="{stage}"}} {lag[0]}
# TYPE newsflow_consumer_lag_seconds gauge
newsflow_consumer_lag_seconds{{stage="{stage}"}} {lag[1]}
# TYPE newsflow_messages_failed_total counter
# TYPE newsflow_last_failure_timestamp_seconds gauge
"""
    for reason, count, when in failures:
        text += f'newsflow_messages_failed_total{{stage="{stage}",reason="{reason}"}} {count}\n'
        text += f'newsflow_last_failure_timestamp_seconds{{stage="{stage}",reason="{reason}"}} {when}\n'
    return text + extra


def test_two_workers_of_a_stage_add_up_and_the_latest_error_wins():
    scrapes = [
        Scrape("u1", "cleaner", parse(exposition("cleaner", 100, lag=(30, 4.0), failures=[("not_json", 2, 900.0)])),
               parse(exposition("cleaner", 120, lag=(10, 2.5), failures=[("not_json", 3, 990.0)])), 2.0),
        Scrape("u2", "worker-2", parse(exposition("cleaner", 0, lag=(5, 9.0), failures=[("empty", 1, 995.0)])),
               parse(exposition("cleaner", 10, lag=(5, 9.0), failures=[("empty", 1, 995.0)])), 2.0),
        Scrape("u3", "sink", None, None, 2.0, error="Connection refused"),
    ]
    lines = {line.stage: line for line in stage_lines(scrapes)}
    cleaner = lines["cleaner"]
    assert (cleaner.up, cleaner.endpoints) == (2, 2)
    assert cleaner.in_rate == (20 + 10) / 2.0 and cleaner.out_rate == 15 / 2.0
    assert (cleaner.lag_messages, cleaner.lag_seconds) == (15, 9.0)  # summed, and the worst
    assert cleaner.failed == 4 and cleaner.last_error == ("empty", 995.0)
    assert lines["sink"].up == 0 and lines["sink"].down == ["u3 (Connection refused)"]
    text = render(list(lines.values()), None, now=1000.0)
    assert "cleaner   2/2     15.0      7.5      15     9.0       4  empty, 5 s ago" in text
    assert "sink      0/1        -        -       -       -       -  DOWN u3 (Connection refused)" in text


def test_a_restarted_process_does_not_give_a_negative_rate():
    scrape = Scrape("u", "tagger", parse(exposition("tagger", 500)), parse(exposition("tagger", 8)), 2.0)
    assert scrape.rate("newsflow_messages_in_total") == 4.0


def test_failing_feeds_are_named_worst_first():
    poller = exposition("poller", 0, extra="""# TYPE newsflow_poller_feeds gauge
newsflow_poller_feeds{state="ok"} 1.0
newsflow_poller_feeds{state="failing"} 2.0
# TYPE newsflow_poller_feed_consecutive_errors gauge
newsflow_poller_feed_consecutive_errors{feed="calm"} 0.0
newsflow_poller_feed_consecutive_errors{feed="flaky"} 2.0
newsflow_poller_feed_consecutive_errors{feed="dead"} 7.0
# TYPE newsflow_poller_last_success_timestamp_seconds gauge
newsflow_poller_last_success_timestamp_seconds{feed="calm"} 990.0
newsflow_poller_last_success_timestamp_seconds{feed="flaky"} -6200.0
""")
    scrapes = [Scrape("u", "poller", parse(poller), parse(poller), 1.0)]
    feeds = feed_health(scrapes)
    assert feeds.states == {"ok": 1.0, "failing": 2.0}
    text = render(stage_lines(scrapes), feeds, now=1000.0)
    assert text.splitlines()[-3:] == [
        "feeds: 2 failing, 1 ok",
        "  failing: dead: 7 failed fetches in a row, never fetched successfully",
        "  failing: flaky: 2 failed fetches in a row, last success 2 h ago",
    ]


def test_endpoint_forms():
    assert _endpoint("cleaner=http://h:9302/metrics") == Endpoint("cleaner", "http://h:9302/metrics")
    assert _endpoint("h:9302") == Endpoint("http://h:9302/metrics", "http://h:9302/metrics")
    assert _endpoint("http://h:9302/") == Endpoint("http://h:9302/metrics", "http://h:9302/metrics")


def test_ages():
    assert [age(s) for s in (3, 59, 61, 7200, 200000)] == ["3 s", "59 s", "1 min", "2 h", "2 d"]
