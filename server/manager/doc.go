// Package manager owns Muster's domain state: every worker's latest status,
// the fleet aggregate, liveness and the change feed that watchers read.
//
// It speaks only in protobuf messages and plain Go; it knows nothing of gRPC
// or HTTP. Every update costs O(1) in the size of the fleet (O(breakers in
// the update) for a breaker update): the aggregate is maintained
// incrementally, liveness is kept in lists ordered by last-seen time so a
// sweep touches only the workers whose liveness changes, and the change feed
// costs the same with one watcher or many.
package manager
