// Package server runs Muster: the gRPC MonitoringService over the manager,
// the REST facade and dashboard (package gateway) on a second listener, and
// the background loops for liveness and the store, with an ordered
// shutdown. Domain state lives in server/manager, input rules in
// server/validate, persistence in server/store.
package server
