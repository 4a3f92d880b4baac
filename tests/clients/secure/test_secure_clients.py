"""Stock clients against a secured Troupe (started by tests/clients/run-secure.sh): kcat
(Debian's, librdkafka 2.0) over SSL and SASL_SSL, kafka-python and aiokafka over SASL_SSL with
SCRAM, confluent-kafka with OAUTHBEARER (JWTs signed here, checked against the JWKS file
run-secure.sh wrote), certificate rotation under a producing client, and bad input on the TLS
and SASL ports answered by a closed connection while the broker keeps serving."""
import asyncio
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid

import jwt
import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

E = os.environ.get
pytestmark = pytest.mark.skipif(not E("SECURE_SASL_SSL"), reason="no secured broker (run-secure.sh)")
PKI = E("SECURE_PKI", "")
CA = os.path.join(PKI, "ca.pem")
ADMIN, ADMIN_PW = "admin", "admin-secret"


def name(prefix="secure"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin_conf(mechanism="SCRAM-SHA-512"):
    return {"bootstrap.servers": E("SECURE_SASL_SSL"), "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism, "sasl.username": ADMIN, "sasl.password": ADMIN_PW,
            "ssl.ca.location": CA}


def mtls_conf():
    return {"bootstrap.servers": E("SECURE_SSL"), "security.protocol": "SSL", "ssl.ca.location": CA,
            "ssl.certificate.location": os.path.join(PKI, "client.crt"),
            "ssl.key.location": os.path.join(PKI, "client.key")}


@pytest.fixture
def topic():
    t = name()
    admin = AdminClient(admin_conf())  # kept alive until the future resolves
    admin.create_topics([NewTopic(t, 1, 1)])[t].result(30)
    return t


def kcat(args, stdin=None):
    run = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    return run.stdout.decode()


def kcat_roundtrip(security_args, topic):
    lines = [f"line-{i}" for i in range(10)]
    kcat(["-b", security_args[0], *security_args[1:], "-P", "-t", topic], ("\n".join(lines) + "\n").encode())
    out = kcat(["-b", security_args[0], *security_args[1:], "-C", "-t", topic, "-o", "beginning", "-e", "-q"])
    assert out.split() == lines


def test_kcat_over_mutual_tls(topic):
    kcat_roundtrip([E("SECURE_SSL"), "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={CA}",
                    "-X", f"ssl.certificate.location={PKI}/client.crt",
                    "-X", f"ssl.key.location={PKI}/client.key"], topic)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kcat_over_sasl_ssl(topic, mechanism):
    kcat_roundtrip([E("SECURE_SASL_SSL"), "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={CA}",
                    "-X", f"sasl.mechanisms={mechanism}", "-X", f"sasl.username={ADMIN}",
                    "-X", f"sasl.password={ADMIN_PW}"], topic)


def test_kcat_with_a_wrong_password_gets_no_metadata():
    run = subprocess.run(["kcat", "-b", E("SECURE_SASL_SSL"), "-X", "security.protocol=SASL_SSL",
                          "-X", f"ssl.ca.location={CA}", "-X", "sasl.mechanisms=SCRAM-SHA-256",
                          "-X", f"sasl.username={ADMIN}", "-X", "sasl.password=wrong", "-L", "-m", "5"],
                         capture_output=True, timeout=60)
    assert run.returncode != 0
    assert b"Authentication failed" in run.stderr or b"SASL" in run.stderr, run.stderr


def test_kafka_python_over_sasl_ssl_scram_sha_512(topic):
    from kafka import KafkaConsumer, KafkaProducer
    kw = dict(bootstrap_servers=E("SECURE_SASL_SSL"), security_protocol="SASL_SSL", ssl_cafile=CA,
              sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=ADMIN, sasl_plain_password=ADMIN_PW)
    p = KafkaProducer(acks="all", **kw)
    for i in range(5):
        p.send(topic, f"kp-{i}".encode()).get(30)
    p.close()
    c = KafkaConsumer(topic, auto_offset_reset="earliest", consumer_timeout_ms=15000, **kw)
    assert [m.value for m in c] == [f"kp-{i}".encode() for i in range(5)]
    c.close()


def test_aiokafka_over_sasl_ssl_scram_sha_256(topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.helpers import create_ssl_context

    async def run():
        kw = dict(bootstrap_servers=E("SECURE_SASL_SSL"), security_protocol="SASL_SSL",
                  ssl_context=create_ssl_context(cafile=CA), sasl_mechanism="SCRAM-SHA-256",
                  sasl_plain_username=ADMIN, sasl_plain_password=ADMIN_PW)
        p = AIOKafkaProducer(acks="all", **kw)
        await p.start()
        try:
            for i in range(5):
                await p.send_and_wait(topic, f"ak-{i}".encode())
        finally:
            await p.stop()
        c = AIOKafkaConsumer(topic, auto_offset_reset="earliest", **kw)
        await c.start()
        got = []
        try:
            deadline = time.time() + 20
            while len(got) < 5 and time.time() < deadline:
                batch = await c.getmany(timeout_ms=1000)
                for msgs in batch.values():
                    got.extend(m.value for m in msgs)
        finally:
            await c.stop()
        return got

    assert asyncio.run(run()) == [f"ak-{i}".encode() for i in range(5)]


KAFKAJS = os.path.join(os.path.dirname(__file__), "..", "kafkajs")


def kafkajs(mechanism, user=ADMIN, password=ADMIN_PW, retries=5):
    """Runs tests/clients/kafkajs/roundtrip.js against the SASL_SSL listener; its JSON summary."""
    env = {**os.environ, "KAFKAJS_BROKER": E("SECURE_SASL_SSL"), "KAFKAJS_CA": CA,
           "KAFKAJS_MECHANISM": mechanism, "KAFKAJS_USER": user, "KAFKAJS_PASSWORD": password,
           "KAFKAJS_TOPIC": name("kafkajs"), "KAFKAJS_RETRIES": str(retries)}
    run = subprocess.run(["node", os.path.join(KAFKAJS, "roundtrip.js")], env=env,
                         capture_output=True, timeout=120)
    import json
    lines = run.stdout.decode().strip().splitlines()
    assert lines, run.stderr.decode()
    return json.loads(lines[-1])


@pytest.mark.parametrize("mechanism", ["scram-sha-256", "scram-sha-512", "plain"])
def test_kafkajs_over_sasl_ssl(mechanism):
    result = kafkajs(mechanism)
    assert result["ok"], result
    assert result["received"] == result["sent"] and len(result["sent"]) == 10


def test_kafkajs_with_a_wrong_password_is_refused():
    result = kafkajs("scram-sha-512", password="not-the-password", retries=0)
    assert not result["ok"]
    assert result["error"] == "KafkaJSSASLAuthenticationError", result


def presented_certificate(address):
    host, port = address.split(":")
    ctx = ssl.create_default_context(cafile=CA)
    ctx.load_cert_chain(os.path.join(PKI, "client.crt"), os.path.join(PKI, "client.key"))
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der_of(pem_path):
    with open(pem_path) as f:
        text = f.read()
    start = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[start:end])


def test_a_certificate_rotated_on_disk_is_served_without_dropping_a_producer(topic):
    old = der_of(os.path.join(PKI, "server.pem"))
    assert presented_certificate(E("SECURE_SSL")) == old
    errors, delivered, stop = [], [], threading.Event()

    def produce():
        p = Producer({**mtls_conf(), "acks": "all", "linger.ms": 5})
        i = 0
        while not stop.is_set():
            p.produce(topic, value=f"r{i}".encode(),
                      on_delivery=lambda err, msg: (errors if err else delivered).append(err or msg.offset()))
            p.poll(0)
            i += 1
            time.sleep(0.01)
        p.flush(30)

    t = threading.Thread(target=produce)
    t.start()
    try:
        time.sleep(1)
        new_dir = os.path.join(PKI, "rotated")
        os.makedirs(new_dir, exist_ok=True)
        run = lambda *a: subprocess.run(a, cwd=new_dir, check=True, capture_output=True)
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr")
        run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "../ca.pem", "-CAkey", "../ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "../server.ext", "-out", "server.crt")
        with open(os.path.join(new_dir, "server.pem"), "w") as out:
            for part in ("server.key", "server.crt"):
                with open(os.path.join(new_dir, part)) as f:
                    out.write(f.read())
        staged = os.path.join(PKI, "server.pem.new")
        shutil.copy(os.path.join(new_dir, "server.pem"), staged)
        os.replace(staged, os.path.join(PKI, "server.pem"))
        new = der_of(os.path.join(PKI, "server.pem"))
        assert new != old
        deadline = time.time() + 20
        while time.time() < deadline and presented_certificate(E("SECURE_SSL")) != new:
            time.sleep(0.5)
        assert presented_certificate(E("SECURE_SSL")) == new, "new connections still see the old certificate"
        time.sleep(1)
    finally:
        stop.set()
        t.join(60)
    assert errors == [], errors[:5]
    assert len(delivered) > 50


def test_a_broken_certificate_file_is_refused_and_the_old_one_kept():
    before = presented_certificate(E("SECURE_SSL"))
    path = os.path.join(PKI, "server.pem")
    with open(path) as f:
        good = f.read()
    try:
        with open(path, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        time.sleep(7)  # past the broker's file poll
        assert presented_certificate(E("SECURE_SSL")) == before
    finally:
        with open(path, "w") as f:
            f.write(good)


# ---- OAUTHBEARER (KIP-768): JWTs signed here, verified by the broker with jwks.json ----

OAUTH_SUB = "oauth-client"  # in super.users (run-secure.sh)
OAUTH_KEYS = {"RS256": ("oauth-rsa.key", "rsa-1"), "ES256": ("oauth-ec.key", "ec-1")}


def oauth_token(alg="RS256", key_file=None, kid=None, **claims):
    default_key, default_kid = OAUTH_KEYS[alg]
    now = int(time.time())
    body = {"sub": OAUTH_SUB, "aud": "troupe-tests", "iss": "https://issuer.troupe.test",
            "iat": now, "exp": now + 600, "scope": "kafka"}
    body.update(claims)
    with open(os.path.join(PKI, key_file or default_key)) as f:
        key = f.read()
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid or default_kid})


def oauth_conf(address, protocol, token, errors=None):
    def oauth_cb(_config):
        return token, time.time() + 600

    conf = {"bootstrap.servers": address, "security.protocol": protocol,
            "sasl.mechanism": "OAUTHBEARER", "oauth_cb": oauth_cb}
    if protocol == "SASL_SSL":
        conf["ssl.ca.location"] = CA
    if errors is not None:
        conf["error_cb"] = errors.append
    return conf


@pytest.mark.parametrize("alg,listener,protocol", [("RS256", "SECURE_SASL_SSL", "SASL_SSL"),
                                                   ("ES256", "SECURE_SASL_PLAINTEXT", "SASL_PLAINTEXT")])
def test_confluent_kafka_with_a_valid_jwt_produces_and_consumes(topic, alg, listener, protocol):
    conf = oauth_conf(E(listener), protocol, oauth_token(alg))
    producer = Producer(conf)
    failed = []
    for i in range(5):
        producer.produce(topic, f"oauth-{i}".encode(), on_delivery=lambda err, _m: err and failed.append(err))
    assert producer.flush(30) == 0
    assert not failed, failed
    consumer = Consumer({**conf, "group.id": name("oauth-group"), "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        got = []
        deadline = time.time() + 30
        while len(got) < 5 and time.time() < deadline:
            m = consumer.poll(1)
            if m is not None and not m.error():
                got.append(m.value().decode())
        assert got == [f"oauth-{i}" for i in range(5)]
    finally:
        consumer.close()


@pytest.mark.parametrize("case", ["other key", "expired", "wrong audience", "wrong issuer"])
def test_confluent_kafka_with_a_bad_jwt_is_refused(case):
    token = {
        "other key": lambda: oauth_token(key_file="oauth-other.key"),
        "expired": lambda: oauth_token(exp=int(time.time()) - 3600),
        "wrong audience": lambda: oauth_token(aud="somebody-else"),
        "wrong issuer": lambda: oauth_token(iss="https://elsewhere.test"),
    }[case]()
    errors = []
    producer = Producer({**oauth_conf(E("SECURE_SASL_SSL"), "SASL_SSL", token, errors),
                         "message.timeout.ms": 10000})
    delivery = []
    producer.produce(name("oauth-refused"), b"never", on_delivery=lambda err, _m: delivery.append(err))
    deadline = time.time() + 20
    while time.time() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        producer.poll(0.5)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), (errors, delivery)
    producer.purge()
    producer.flush(5)
    with open(E("SECURE_BROKER_LOG")) as f:
        assert token.split(".")[2] not in f.read(), "the token's signature appears in the broker log"


def test_oauthbearer_error_challenge_then_failure_on_the_wire():
    """RFC 7628: a refused token gets {"status":"invalid_token"}; the client's \x01 then gets
    SASL_AUTHENTICATION_FAILED and the connection closes."""
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"OAUTHBEARER") == 0
    token = oauth_token(key_file="oauth-other.key")
    s.sendall(frame(36, 0, 2, kbytes(f"n,,\x01auth=Bearer {token}\x01\x01".encode())))
    body = read_response(s)
    (corr, error) = struct.unpack(">ih", body[:6])
    assert (corr, error) == (2, 0)
    (msg_len,) = struct.unpack(">h", body[6:8])
    auth_bytes_at = 8 + max(msg_len, 0)
    (n,) = struct.unpack(">i", body[auth_bytes_at:auth_bytes_at + 4])
    assert body[auth_bytes_at + 4:auth_bytes_at + 4 + n] == b'{"status":"invalid_token"}'
    assert authenticate(s, b"\x01", correlation_id=3) == 58
    assert closed(s)
    broker_still_serves()


# ---- bad input: raw Kafka frames on the SASL and TLS ports ----

def frame(api_key, version, correlation_id, body, client_id=b"badinput"):
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def kstring(s):
    return struct.pack(">h", len(s)) + s


def kbytes(b):
    return struct.pack(">i", len(b)) + b


def connect(address):
    host, port = address.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(10)
    return s


def read_response(s):
    size_bytes = recv_exact(s, 4)
    if size_bytes is None:
        return None
    (size,) = struct.unpack(">i", size_bytes)
    return recv_exact(s, size)


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        try:
            chunk = s.recv(n - len(out))
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        out += chunk
    return out


def closed(s):
    """True when the broker closed the connection (EOF or reset) within the socket timeout."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def handshake(s, mechanism, correlation_id=1):
    s.sendall(frame(17, 1, correlation_id, kstring(mechanism)))
    body = read_response(s)
    assert body is not None, "no SaslHandshake answer"
    (corr, error) = struct.unpack(">ih", body[:6])
    assert corr == correlation_id
    return error


def authenticate(s, token, correlation_id=2):
    s.sendall(frame(36, 0, correlation_id, kbytes(token)))
    body = read_response(s)
    if body is None:
        return None
    (corr, error) = struct.unpack(">ih", body[:6])
    assert corr == correlation_id
    return error


def broker_still_serves():
    md = AdminClient(admin_conf()).list_topics(timeout=15)
    assert md.brokers


def test_unknown_mechanism_is_refused_and_closed():
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"GSSAPI") == 33  # UNSUPPORTED_SASL_MECHANISM
    assert closed(s)
    broker_still_serves()


def test_wrong_plain_password_is_refused_and_closed():
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"PLAIN") == 0
    assert authenticate(s, b"\0admin\0not-it") == 58  # SASL_AUTHENTICATION_FAILED
    assert closed(s)


def test_oversized_and_truncated_sasl_tokens_close_only_that_connection():
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"PLAIN") == 0
    assert authenticate(s, b"\0admin\0" + b"x" * 4096) == 58
    assert closed(s)
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"SCRAM-SHA-256") == 0
    # A frame that claims more bytes than ever arrive, then the peer goes quiet and leaves.
    s.sendall(struct.pack(">i", 200) + b"\x00\x24\x00\x00")
    s.close()
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"SCRAM-SHA-256") == 0
    assert authenticate(s, b"garbage without attributes") == 58
    assert closed(s)
    broker_still_serves()


def test_requests_out_of_order_close_the_connection():
    # SaslAuthenticate before SaslHandshake.
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert authenticate(s, b"\0admin\0admin-secret") in (None, 34)  # ILLEGAL_SASL_STATE or closed
    assert closed(s)
    # Metadata before authentication.
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    s.sendall(frame(3, 1, 7, struct.pack(">i", -1)))
    assert read_response(s) is None
    # A replayed SCRAM client-first after the exchange started.
    s = connect(E("SECURE_SASL_PLAINTEXT"))
    assert handshake(s, b"SCRAM-SHA-512") == 0
    assert authenticate(s, b"n,,n=admin,r=abcdef") == 0
    assert authenticate(s, b"n,,n=admin,r=abcdef", correlation_id=3) == 58
    assert closed(s)
    broker_still_serves()


def test_sasl_requests_on_a_plaintext_listener_are_illegal_state():
    s = connect(E("SECURE_PLAINTEXT"))
    assert handshake(s, b"PLAIN") == 34  # ILLEGAL_SASL_STATE


def test_plaintext_kafka_bytes_on_the_tls_port_are_refused():
    for port in ("SECURE_SSL", "SECURE_SASL_SSL"):
        s = connect(E(port))
        s.sendall(frame(18, 0, 1, b""))  # ApiVersions in the clear
        assert read_response(s) is None
    # A TLS client without a certificate on the client-auth listener is refused.
    host, p = E("SECURE_SSL").split(":")
    ctx = ssl.create_default_context(cafile=CA)
    with socket.create_connection((host, int(p)), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(frame(18, 0, 1, b""))
                if not tls.recv(4):
                    raise ConnectionResetError("closed")
    broker_still_serves()


def test_authentication_is_counted_in_metrics():
    import urllib.request
    body = urllib.request.urlopen(f"http://{E('SECURE_HTTP')}/metrics", timeout=10).read().decode()
    assert "troupe_authentication_success_total" in body
    assert "troupe_authentication_failure_total" in body
    assert ADMIN_PW not in body


def metric(sample):
    """The value of one sample on /metrics (0 when it is not there yet)."""
    import urllib.request
    body = urllib.request.urlopen(f"http://{E('SECURE_HTTP')}/metrics", timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


def test_librdkafka_reauthenticates_while_it_produces_without_an_error(topic):
    """KIP-368: the REAUTH listener gives SASL sessions 3 s (connections.max.reauth.ms);
    librdkafka re-authenticates at 90% of that while producing for 12 s, and nothing fails."""
    reauths = 'troupe_reauthentication_success_total{listener="REAUTH",mechanism="SCRAM-SHA-512"}'
    killed = 'troupe_expired_connections_killed_total{listener="REAUTH"}'
    before, killed_before = metric(reauths), metric(killed)
    errors, failed, delivered = [], [], []
    p = Producer({**admin_conf("SCRAM-SHA-512"), "bootstrap.servers": E("SECURE_REAUTH"),
                  "acks": "all", "linger.ms": 5, "error_cb": errors.append})

    def on_delivery(err, msg):
        (failed if err else delivered).append(err or msg.offset())

    sent = 0
    end = time.time() + 12
    while time.time() < end:
        p.produce(topic, f"r-{sent}".encode(), on_delivery=on_delivery)
        sent += 1
        p.poll(0.05)
    assert p.flush(30) == 0
    assert errors == [] and failed == [], (errors, failed)
    assert len(delivered) == sent and sorted(delivered) == list(range(sent))
    # One connection re-authenticating about every 2.7 s: 3 or more in 12 s.
    assert metric(reauths) - before >= 3
    assert metric(killed) == killed_before, "no session outlived its lifetime"

