"""Kafka SASL/TLS settings mapped onto every client, secrets kept out of reprs and errors,
and SQL that takes every user value as a parameter (SQLite and PostgreSQL)."""
from __future__ import annotations

import ssl

import pytest
from click.testing import CliRunner
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from services.cli import cli
from shared.config import Settings, redact_url
from shared.kafka import security_config
from shared.stream import faust_credentials
from tests.tlsfiles import make_tls_files

PASSWORD = "s3cret-Kafka-pw"
DB_PASSWORD = "s3cret-Db-pw"


def sasl(**overrides) -> Settings:
    values = dict(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="SCRAM-SHA-512",
                  kafka_sasl_username="newsflow", kafka_sasl_password=PASSWORD)
    return Settings(**{**values, **overrides})


def test_plaintext_is_the_default_and_adds_nothing():
    settings = Settings()
    assert security_config(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_reaches_kafka_python_and_faust():
    settings = sasl()
    assert security_config(settings) == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "newsflow", "sasl_plain_password": PASSWORD,
    }
    aiokafka = credentials_to_aiokafka_auth(faust_credentials(settings))  # what Faust hands aiokafka
    assert aiokafka == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                        "sasl_plain_username": "newsflow", "sasl_plain_password": PASSWORD, "ssl_context": None}


def test_tls_files_reach_kafka_python_and_faust(tmp_path):
    tls = make_tls_files(tmp_path)
    settings = sasl(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN", kafka_ssl_cafile=tls.ca,
                    kafka_ssl_certfile=tls.client_cert, kafka_ssl_keyfile=tls.client_key,
                    kafka_ssl_key_password=tls.key_password, kafka_ssl_check_hostname=False)
    config = security_config(settings)
    assert {k: v for k, v in config.items() if k.startswith("ssl_")} == {
        "ssl_cafile": str(tls.ca), "ssl_certfile": str(tls.client_cert), "ssl_keyfile": str(tls.client_key),
        "ssl_password": tls.key_password, "ssl_check_hostname": False,
    }
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_plain_password"] == PASSWORD
    aiokafka = credentials_to_aiokafka_auth(faust_credentials(settings))
    assert aiokafka["security_protocol"] == "SASL_SSL" and aiokafka["sasl_mechanism"] == "PLAIN"
    context = aiokafka["ssl_context"]  # the CA loaded, the client key decrypted with its password
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert not context.check_hostname and context.cert_store_stats()["x509_ca"] == 1
    tls_only = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tls.ca)
    assert credentials_to_aiokafka_auth(faust_credentials(tls_only))["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in security_config(tls_only)


@pytest.mark.parametrize("overrides, message", [
    ({"kafka_sasl_password": ""}, "needs NEWSFLOW_KAFKA_SASL_USERNAME and NEWSFLOW_KAFKA_SASL_PASSWORD"),
    ({"kafka_sasl_username": ""}, "needs NEWSFLOW_KAFKA_SASL_USERNAME and NEWSFLOW_KAFKA_SASL_PASSWORD"),
    ({"kafka_ssl_cafile": "/nonexistent/ca.pem"}, "NEWSFLOW_KAFKA_SSL_CAFILE: no such file"),
    ({"kafka_sasl_mechanism": "GSSAPI"}, "kafka_sasl_mechanism"),
])
def test_incomplete_security_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        sasl(**overrides)


def test_secrets_stay_out_of_repr():
    settings = sasl(db_url=f"postgresql://newsflow:{DB_PASSWORD}@db.example.org/news",
                    kafka_ssl_key_password="key-" + PASSWORD)
    for text in (repr(settings), str(settings)):
        assert PASSWORD not in text and DB_PASSWORD not in text
    assert settings.kafka_sasl_password.get_secret_value() == PASSWORD  # still there for the clients


@pytest.mark.parametrize("env", [
    # pydantic's own message would show the input, the passwords included
    {"NEWSFLOW_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "NEWSFLOW_KAFKA_SASL_PASSWORD": PASSWORD,
     "NEWSFLOW_DB_URL": f"postgresql://newsflow:{DB_PASSWORD}@127.0.0.1/test"},
    {"NEWSFLOW_PARTITIONS": "many", "NEWSFLOW_KAFKA_SASL_PASSWORD": PASSWORD,
     "NEWSFLOW_DB_URL": f"postgresql://newsflow:{DB_PASSWORD}@127.0.0.1/test"},
])
def test_a_bad_setting_is_named_without_any_secret(env):
    result = CliRunner().invoke(cli, ["articles"], env=env)
    assert result.exit_code == 1 and "bad setting: " in result.output, result.output
    assert "NEWSFLOW_" in result.output
    assert PASSWORD not in result.output and DB_PASSWORD not in result.output


@pytest.mark.parametrize("url, shown", [
    ("postgresql://newsflow:pw@db:5432/news", "postgresql://newsflow:***@db:5432/news"),
    ("postgresql://newsflow:p@ss:w/rd@db/news", "postgresql://newsflow:***@db/news"),  # "@" and "/" inside it
    ("postgresql://newsflow:p?w@db/news", "postgresql://newsflow:***@db/news"),
    ("postgresql://db/news?user=newsflow&password=pw&sslmode=require",
     "postgresql://db/news?user=newsflow&password=***&sslmode=require"),
    ("host=db sslpassword=pw dbname=news", "host=db sslpassword=*** dbname=news"),
    ("postgresql://newsflow@db/news?options=-csearch_path%3Dx", "postgresql://newsflow@db/news?options=-csearch_path%3Dx"),
    ("sqlite:////var/lib/newsflow/news.db", "sqlite:////var/lib/newsflow/news.db"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_an_unsupported_database_url_is_refused_without_its_password():
    with pytest.raises(ValueError) as info:
        from services.sink.store import open_store

        open_store(f"mysql://newsflow:{DB_PASSWORD}@db/news")
    assert DB_PASSWORD not in str(info.value) and "mysql://newsflow:***@db/news" in str(info.value)


@pytest.mark.parametrize("url", [f"mysql://newsflow:{DB_PASSWORD}@db/news",
                                 f"postgresql://newsflow:{DB_PASSWORD}@127.0.0.1:1/news"])
def test_a_database_that_cannot_be_opened_is_an_error_without_its_password(url):
    for args in (["articles"], ["explain", "some-id"]):
        result = CliRunner().invoke(cli, [*args, "--db", url])
        assert result.exit_code == 1 and "cannot open the database" in result.output, result.output
        assert "newsflow:***@" in result.output and DB_PASSWORD not in result.output
        assert result.exc_info is None or result.exc_info[0] is SystemExit  # a message, not a traceback
