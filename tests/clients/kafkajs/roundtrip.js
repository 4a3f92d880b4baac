// kafkajs over SASL_SSL: create a topic, produce records with acks=all, read them back with a
// consumer group, print a JSON summary on stdout. Driven by tests/clients/secure (pytest) with
// the broker address, CA file, mechanism and credentials in the environment. Exit status 0
// with {"ok": true, ...}; a refused login prints {"ok": false, "error": <kafkajs error name>}.
const fs = require("fs");
const { Kafka, logLevel } = require("kafkajs");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const kafka = new Kafka({
  clientId: "troupe-kafkajs-test",
  brokers: [env("KAFKAJS_BROKER")],
  ssl: { ca: [fs.readFileSync(env("KAFKAJS_CA"), "utf-8")] },
  sasl: {
    mechanism: env("KAFKAJS_MECHANISM"),
    username: env("KAFKAJS_USER"),
    password: env("KAFKAJS_PASSWORD"),
  },
  logLevel: logLevel.NOTHING,
  retry: { retries: Number(process.env.KAFKAJS_RETRIES || 5) },
  connectionTimeout: 10000,
});

async function main() {
  const topic = env("KAFKAJS_TOPIC");
  const count = Number(process.env.KAFKAJS_COUNT || 10);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer();
  await producer.connect();
  const sent = [];
  for (let i = 0; i < count; i++) sent.push(`kjs-${i}`);
  await producer.send({ topic, acks: -1, messages: sent.map((value, i) => ({ key: `k${i}`, value })) });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received = [];
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} records within 30 s`)), 30000);
    consumer
      .run({
        eachMessage: async ({ message }) => {
          received.push(message.value.toString());
          if (received.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  received.sort();
  console.log(JSON.stringify({ ok: true, sent: sent.slice().sort(), received }));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(JSON.stringify({ ok: false, error: e.name, message: String(e.message) }));
    process.exit(1);
  }
);
