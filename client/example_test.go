package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/musterhq/muster/client"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// startMuster runs an in-process Muster server on free loopback ports
// until ctx ends, and returns its gRPC address and a channel that is
// closed once it has stopped. A real worker dials its cluster's musterd.
func startMuster(ctx context.Context) (addr string, stopped <-chan struct{}) {
	listening := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := server.Run(ctx, server.Config{
			Store:       "memory",
			HTTPAddr:    "127.0.0.1:0",
			GRPCAddr:    "127.0.0.1:0",
			Logger:      slog.New(slog.DiscardHandler),
			OnListening: func(_, grpc net.Addr) { listening <- grpc.String() },
		})
		if err != nil {
			log.Fatal(err)
		}
	}()
	return <-listening, done
}

// A worker reports its extraction's progress; Flush makes it visible to
// readers of the server, such as the generated gRPC client here.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	addr, stopped := startMuster(ctx)
	defer func() { cancel(); <-stopped }()

	c, err := client.New(addr, client.WithWorkerID("worker-pod-12345"), client.WithWorkerType("extraction"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	c.UpdateExtractionStatus(&musterv1.ExtractionStatus{
		Status:            musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
		CurrentDiocese:    proto.String("Archdiocese of Atlanta"),
		ParishesProcessed: 100,
		TotalParishes:     300,
		SuccessRate:       90,
	})
	c.UpdatePerformance(&musterv1.PerformanceMetrics{ParishesPerMinute: 12.5, QueueSize: 3})
	if err := c.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	resp, err := musterv1.NewMonitoringServiceClient(conn).GetAggregate(ctx, &musterv1.GetAggregateRequest{})
	if err != nil {
		log.Fatal(err)
	}
	ext := resp.GetAggregate().GetExtractionStatus()
	fmt.Printf("%d of %d workers active, %d of %d parishes, %.1f%% done\n",
		ext.GetActiveWorkers(), ext.GetTotalWorkers(), ext.GetParishesProcessed(), ext.GetTotalParishes(), ext.GetProgressPercentage())
	fmt.Println("parishes per minute:", resp.GetAggregate().GetPerformanceMetrics().GetParishesPerMinute())
	// Output:
	// 1 of 1 workers active, 100 of 300 parishes, 33.3% done
	// parishes per minute: 12.5
}

// StartExtraction and Finish report a whole extraction the way the Python
// workers do: running status, progress, completion, then idle.
func ExampleClient_StartExtraction() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	addr, stopped := startMuster(ctx)
	defer func() { cancel(); <-stopped }()

	c, err := client.New(addr, client.WithWorkerID("worker-pod-67890"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	extract := func(parishes []string) (err error) {
		ex := c.StartExtraction("Diocese of Boston", int64(len(parishes)))
		defer func() { ex.Finish(err) }()
		var ok int64
		for i, p := range parishes {
			if p != "" { // stand-in for the real work
				ok++
			}
			ex.Progress(int64(i+1), ok)
		}
		return nil
	}
	if err := extract([]string{"St. Anne", "", "St. Paul", "St. Mary"}); err != nil {
		log.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	w, err := c.Worker(ctx, "") // this client's own worker
	if err != nil {
		log.Fatal(err)
	}
	done := w.GetExtractionHistory()[0]
	fmt.Println(done.GetDioceseName(), done.GetStatus(), done.GetParishesExtracted(), done.GetSuccessRate())
	fmt.Println(w.GetExtractionStatus().GetStatus())
	// Output:
	// Diocese of Boston completed 4 75
	// EXTRACTION_STATE_IDLE
}

// Read helpers map the server's errors back to the package's.
func ExampleClient_Worker() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	addr, stopped := startMuster(ctx)
	defer func() { cancel(); <-stopped }()

	c, err := client.New(addr, client.WithWorkerID("worker-1"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Worker(ctx, "nobody")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output: true
}

// When the server cannot be reached, updates wait in the queue (the oldest
// are dropped once it is full) and Flush gives up with its context.
func ExampleClient_Stats() {
	c, err := client.New("127.0.0.1:1", // nothing listens here
		client.WithWorkerID("worker-1"),
		client.WithQueueSize(3),
		client.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 5 {
		c.Log("INFO", "example", fmt.Sprint("line ", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	fmt.Println(c.Flush(ctx))
	st := c.Stats()
	fmt.Println("queued:", st.Queued, "dropped:", st.Dropped)

	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShutdown()
	c.Shutdown(shutdown)
	// Output:
	// context deadline exceeded
	// queued: 3 dropped: 2
}
