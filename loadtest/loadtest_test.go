package loadtest

import (
	"context"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if got < tc.want*94/100 || got > tc.want*106/100 {
			t.Errorf("Quantile(%v) = %v, want %v ± 6%%", tc.q, got, tc.want)
		}
	}
	var merged Histogram
	merged.Merge(&h)
	if merged.Count() != 1000 || merged.Max() != time.Millisecond {
		t.Errorf("merged count %d max %v, want 1000 and 1ms", merged.Count(), merged.Max())
	}
}

func TestTracker(t *testing.T) {
	t.Parallel()
	tr := newTracker(2)
	at := time.Unix(100, 0)
	tr.sent(1, 5, at)
	if got, ok := tr.sentAt(1, 5); !ok || !got.Equal(at) {
		t.Errorf("sentAt(1, 5) = %v, %v; want %v", got, ok, at)
	}
	tr.sent(1, 5+trackDepth, at.Add(time.Second))
	if _, ok := tr.sentAt(1, 5); ok {
		t.Error("an overwritten update still matched")
	}
	if _, ok := tr.sentAt(7, 1); ok {
		t.Error("an unknown worker matched")
	}
}

// TestRunAgainstBaselines drives both baselines briefly over every
// transport; it checks that updates flow, not how fast.
func TestRunAgainstBaselines(t *testing.T) {
	t.Parallel()
	rest := httptest.NewServer(RESTBaseline())
	defer rest.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := GRPCBaseline()
	go srv.Serve(lis)
	defer srv.Stop()
	for _, kind := range []Kind{KindStatus, KindBreakers, KindHeartbeat} {
		for _, tr := range []Transport{REST, Unary, Stream} {
			res, err := Run(context.Background(), Config{
				Target:     Target{Name: "baseline", HTTPURL: rest.URL, GRPCAddr: lis.Addr().String()},
				Transports: []Transport{tr}, Workers: 20, Senders: 2, Kind: kind,
				Duration: 100 * time.Millisecond,
			})
			if err != nil {
				t.Fatalf("%s over %s: %v", kind, tr, err)
			}
			if res.Updates == 0 || res.Errors != 0 {
				t.Errorf("%s over %s: %d updates, %d errors (%s)", kind, tr, res.Updates, res.Errors, res.FirstError)
			}
		}
	}
}

// TestRunAgainstMusterd drives a real musterd with watchers following it,
// over every transport together.
func TestRunAgainstMusterd(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, server.Config{})
	res, err := Run(context.Background(), Config{
		Target:     Target{Name: "musterd", HTTPURL: srv.HTTPURL, GRPCAddr: srv.GRPCAddr},
		Transports: []Transport{REST, Unary, Stream}, Workers: 30, Senders: 2, Rate: 20, Watchers: 3, FillEvents: 2,
		Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Updates == 0 || res.Errors != 0 {
		t.Errorf("%d updates, %d errors (%s)", res.Updates, res.Errors, res.FirstError)
	}
	if res.Watch.Latency.Count() == 0 {
		t.Errorf("watchers matched no updates: %+v", res.Watch)
	}
}
