// Package loadtest drives a Muster server, or one of the two baselines it is
// compared with, and measures it: throughput, request latency, the latency
// from an update being sent to a Watch subscriber seeing it, and the
// server's CPU and memory from /proc when it runs on this host.
//
// The baselines are the floor for each transport: a plain net/http handler
// that decodes the same legacy JSON into a struct and stores it under a
// mutex, and a bare grpc-go server whose handlers only store the message.
// Running them in the same session as musterd is what makes the numbers
// comparable on a noisy machine: `muster bench` reports ratios.
package loadtest
