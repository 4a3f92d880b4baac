"""Fixtures for the stock-client tests: a running broker at KAFKA_BOOTSTRAP."""
import os
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


@pytest.fixture(scope="session")
def bootstrap():
    return BOOTSTRAP


@pytest.fixture
def topic():
    """A fresh topic with three partitions."""
    name = f"clients-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)
