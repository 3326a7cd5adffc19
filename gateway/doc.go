// Package gateway owns Muster's HTTP side: the REST facade over the gRPC
// service (grpc-gateway, dialing the real gRPC server so its interceptors
// apply), the legacy JSON shapes and quirks of CONTRACT §2, and the static
// dashboard.
package gateway
