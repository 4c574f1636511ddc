// The NATS client libraries, in one place: the connection, JetStream and its key-value buckets,
// from npm (JSR is out of reach here). Moving to other versions or to `jsr:@nats-io/...` is a
// change in this file only.

export { connect, type NatsConnection } from "npm:@nats-io/transport-node@3.4.0";
export {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  type StreamConfig,
} from "npm:@nats-io/jetstream@3.4.0";
export { type KV, Kvm, type KvWatchEntry } from "npm:@nats-io/kv@3.4.0";
