// Command muster is Muster's command-line tool.
//
//	muster workers            list the workers
//	muster worker ID          one worker in detail
//	muster status             the fleet aggregate
//	muster forget ID          forget a worker now
//	muster watch              a live terminal view of the fleet
//	muster simulate [flags]   drive a simulated fleet against a server
//	muster bench [flags]      measure a server under load, with baselines
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: muster <command> [flags]

commands:
  workers    list the workers
  worker ID  show one worker: status, breakers, recent errors and logs
  status     show the fleet aggregate and its breakers
  forget ID  forget a worker now
  watch      a live terminal view of the aggregate and the noisiest workers
  simulate   drive a simulated fleet of workers against a running musterd
  bench      measure a musterd under load, against baselines in the same run

The commands that read or manage the fleet take --grpc-addr, --token and --tls-ca.

Run "muster <command> --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "workers":
		return fleetCmd(ctx, "workers", 0, listWorkers, args[1:], stdout, stderr)
	case "worker":
		return fleetCmd(ctx, "worker", 1, showWorker, args[1:], stdout, stderr)
	case "status":
		return fleetCmd(ctx, "status", 0, showStatus, args[1:], stdout, stderr)
	case "forget":
		return fleetCmd(ctx, "forget", 1, forgetWorker, args[1:], stdout, stderr)
	case "watch":
		return fleetCmd(ctx, "watch", 0, watchFleet, args[1:], stdout, stderr)
	case "simulate":
		return simulateCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "muster: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
