// Package client is the Go worker's side of Muster: it reports a pipeline
// worker's extraction status, circuit breakers, performance, errors, log
// lines, completions and heartbeats to a Muster server over gRPC.
//
// Reporting must never slow a worker down or fail it, so every update
// method only puts the update into a bounded in-memory queue and returns.
// A background sender streams the queue to the server over one Report
// stream, reconnecting with backoff when the server is away. When the
// queue overflows the oldest updates are dropped and counted (see
// Stats), except the newest extraction status, which always survives
// because it alone describes the worker's current state. Flush waits
// until the server has acknowledged what was reported; Close flushes
// briefly and stops.
//
// Delivery is at least once: updates written to a stream that fails before
// the server acknowledges them are sent again on the next stream, so after
// a reconnect the server may record an event twice. State updates replace
// what they update, so for them that is harmless.
//
// Extraction wraps a diocese's extraction in the calls the Python workers
// make: a running status, progress, then a completion and an idle status.
package client
