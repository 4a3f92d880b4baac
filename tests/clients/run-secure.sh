#!/usr/bin/env bash
# The project's own security tests with stock clients (kcat, kafka-python, aiokafka, kafkajs,
# confluent-kafka): makes a throw-away CA (openssl), starts a release `troupe serve` with four
# listeners (PLAINTEXT, SSL with client certificates required, SASL_SSL, SASL_PLAINTEXT, and
# REAUTH: SASL_SSL with connections.max.reauth.ms=3000 for the KIP-368 test), SASL
# PLAIN/SCRAM/OAUTHBEARER (a JWKS file of an RSA and an EC key made here), a bootstrapped
# SCRAM super user and the ACL authorizer, runs
# tests/clients/secure, stops it. The shared kit's `security` marker is run separately
# (../shared/conformance/run-secure-troupe.sh).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/target/release/troupe"
[ -x "$bin" ] || { echo "build first: cargo build --release"; exit 2; }
command -v openssl >/dev/null || { echo "openssl is needed to make test certificates"; exit 2; }
work=$(mktemp -d)
pki=$work/pki
mkdir -p "$pki"
(
  cd "$pki" || exit 2
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=troupe-secure-tests-ca" \
    -keyout ca.key -out ca.pem 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt 2>/dev/null
  cat server.key server.crt >server.pem
  openssl req -newkey rsa:2048 -nodes -subj "/CN=secure-tests-client" \
    -keyout client.key -out client.csr 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.crt 2>/dev/null
  # OAUTHBEARER: the tests sign JWTs with these; the broker verifies with jwks.json (the
  # public halves of oauth-rsa and oauth-ec; oauth-other is a key the broker does not know).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out oauth-rsa.key 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out oauth-other.key 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out oauth-ec.key 2>/dev/null
  python3 - <<'PY'
import base64, json
from cryptography.hazmat.primitives.serialization import load_pem_private_key
def b64(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(b"=").decode()
rsa = load_pem_private_key(open("oauth-rsa.key", "rb").read(), None).public_key().public_numbers()
ec = load_pem_private_key(open("oauth-ec.key", "rb").read(), None).public_key().public_numbers()
keys = [{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(rsa.n), "e": b64(rsa.e)},
        {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
         "x": b64(ec.x, 32), "y": b64(ec.y, 32)}]
json.dump({"keys": keys}, open("jwks.json", "w"))
PY
) || { echo "certificate generation failed"; exit 2; }

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
p_plain=$(port); p_ssl=$(port); p_sasl_ssl=$(port); p_sasl_plain=$(port); p_reauth=$(port); hp=$(port)
jaas='org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_plainuser="plain-secret";'
"$bin" serve --data-dir "$work/data" --http "127.0.0.1:$hp" \
  --override "listeners=PLAINTEXT://127.0.0.1:$p_plain,SSL://127.0.0.1:$p_ssl,SASL_SSL://127.0.0.1:$p_sasl_ssl,SASL_PLAINTEXT://127.0.0.1:$p_sasl_plain,REAUTH://127.0.0.1:$p_reauth" \
  --override "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,REAUTH:SASL_SSL" \
  --override listener.name.reauth.connections.max.reauth.ms=3000 \
  --override ssl.keystore.type=PEM --override "ssl.keystore.location=$pki/server.pem" \
  --override ssl.truststore.type=PEM --override "ssl.truststore.location=$pki/ca.pem" \
  --override listener.name.ssl.ssl.client.auth=required \
  --override sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER \
  --override "sasl.oauthbearer.jwks.endpoint.url=file://$pki/jwks.json" \
  --override sasl.oauthbearer.expected.audience=kafka,troupe-tests \
  --override sasl.oauthbearer.expected.issuer=https://issuer.troupe.test \
  --override "listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas" \
  --override "listener.name.sasl_plaintext.plain.sasl.jaas.config=$jaas" \
  --override "listener.name.reauth.plain.sasl.jaas.config=$jaas" \
  --override authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer \
  --override "super.users=User:admin;User:CN=secure-tests-client;User:oauth-client" \
  --add-scram 'SCRAM-SHA-256=[name=admin,password=admin-secret]' \
  --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]' \
  >"$work/broker.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$hp/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
kill -0 $pid 2>/dev/null || { echo "troupe exited:"; tail -30 "$work/broker.log"; exit 2; }
export SECURE_PLAINTEXT=127.0.0.1:$p_plain SECURE_SSL=127.0.0.1:$p_ssl \
  SECURE_SASL_SSL=127.0.0.1:$p_sasl_ssl SECURE_SASL_PLAINTEXT=127.0.0.1:$p_sasl_plain \
  SECURE_REAUTH=127.0.0.1:$p_reauth \
  SECURE_PKI=$pki SECURE_BROKER_LOG=$work/broker.log SECURE_HTTP=127.0.0.1:$hp
status=0
python3 -m pytest -q -p no:cacheprovider "$root/tests/clients/secure" || status=1
if ! kill -0 $pid 2>/dev/null; then echo "troupe died during the security tests:"; tail -50 "$work/broker.log"; status=1; fi
if grep -q -E 'admin-secret|plain-secret|rotated-secret' "$work/broker.log"; then
  echo "a password appears in the broker log"; status=1
fi
exit $status
