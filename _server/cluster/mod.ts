// What the server loads, on demand, to be a cluster node: the link to NATS and the store that
// writes through it. Loaded by a dynamic import, so that a server on its own never loads the
// NATS client.

export { ClusterLink } from "./link.ts";
export { ReplicatedStore } from "./replicated_store.ts";
