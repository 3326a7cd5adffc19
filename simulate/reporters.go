package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/musterhq/muster/client"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// grpcReporter reports through the Go client (queued, streamed).
type grpcReporter struct {
	c        *client.Client
	counters *counters
}

func (r *grpcReporter) status(st *musterv1.ExtractionStatus) {
	r.c.UpdateExtractionStatus(st)
	r.counters.updates.Add(1)
}

func (r *grpcReporter) breakers(b map[string]*musterv1.CircuitBreaker) {
	r.c.UpdateCircuitBreakers(b)
	r.counters.updates.Add(1)
}

func (r *grpcReporter) performance(p *musterv1.PerformanceMetrics) {
	r.c.UpdatePerformance(p)
	r.counters.updates.Add(1)
}

func (r *grpcReporter) error(e *musterv1.ErrorEvent) {
	r.c.ReportError(e)
	r.counters.updates.Add(1)
}

func (r *grpcReporter) log(level, message string) {
	r.c.Log(level, "extraction", message)
	r.counters.updates.Add(1)
}

func (r *grpcReporter) completion(e *musterv1.CompletedExtraction) {
	r.c.ReportCompletion(e)
	r.counters.updates.Add(1)
}

// restReporter reports as the deployed Python scripts do: synchronous JSON
// POSTs with a 5 s timeout, failures ignored. With no worker id it uses the
// legacy paths and the seed-era breaker shape ("95.6%" rates, no
// total_successes); with one, the worker paths and worker_id in event bodies.
type restReporter struct {
	base     string
	workerID string
	token    string
	http     *http.Client
	counters *counters
}

func newRESTReporter(base, workerID, token string, c *counters) *restReporter {
	return &restReporter{base: base + "/api/monitoring", workerID: workerID, token: token, http: &http.Client{Timeout: 5 * time.Second}, counters: c}
}

func (r *restReporter) post(kind string, body any) {
	path := r.base + "/" + kind
	if r.workerID != "" && (kind == "extraction_status" || kind == "circuit_breakers" || kind == "performance") {
		path = r.base + "/worker/" + r.workerID + "/" + kind
	}
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // the bodies built here always marshal
	}
	req, err := http.NewRequest(http.MethodPost, path, bytes.NewReader(data))
	if err != nil {
		panic(err) // the paths built here are always valid
	}
	req.Header.Set("Content-Type", "application/json")
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		r.counters.failed.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.counters.failed.Add(1)
		if resp.StatusCode == http.StatusUnauthorized {
			r.counters.unauthorized.Add(1)
		}
		return
	}
	r.counters.updates.Add(1)
}

// event adds worker_id to a legacy event body, as newer scripts do.
func (r *restReporter) event(body map[string]any) map[string]any {
	if r.workerID != "" {
		body["worker_id"] = r.workerID
	}
	return body
}

func isoTime(ts *timestamppb.Timestamp) any {
	if ts == nil {
		return nil
	}
	return ts.AsTime().UTC().Format("2006-01-02T15:04:05.000000+00:00")
}

func (r *restReporter) status(st *musterv1.ExtractionStatus) {
	var diocese any
	if st.CurrentDiocese != nil {
		diocese = st.GetCurrentDiocese()
	}
	r.post("extraction_status", map[string]any{
		"status": stateName(st.GetStatus()), "current_diocese": diocese,
		"parishes_processed": st.GetParishesProcessed(), "total_parishes": st.GetTotalParishes(),
		"success_rate": st.GetSuccessRate(), "progress_percentage": st.GetProgressPercentage(),
		"started_at": isoTime(st.GetStartedAt()), "estimated_completion": isoTime(st.GetEstimatedCompletion()),
	})
}

// stateName spells an extraction state as the scripts do ("running").
func stateName(s musterv1.ExtractionState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "EXTRACTION_STATE_"))
}

func (r *restReporter) breakers(breakers map[string]*musterv1.CircuitBreaker) {
	body := map[string]any{}
	for name, b := range breakers {
		state := strings.TrimPrefix(b.GetState().String(), "BREAKER_STATE_")
		entry := map[string]any{
			"state": state, "total_requests": b.GetTotalRequests(), "total_failures": b.GetTotalFailures(),
			"total_blocked": b.GetTotalBlocked(),
		}
		if r.workerID == "" {
			entry["success_rate"] = fmt.Sprintf("%.1f%%", b.GetSuccessRate())
		} else {
			entry["success_rate"] = b.GetSuccessRate()
			entry["total_successes"] = b.GetTotalSuccesses()
		}
		body[name] = entry
	}
	r.post("circuit_breakers", body)
}

func (r *restReporter) performance(p *musterv1.PerformanceMetrics) {
	r.post("performance", map[string]any{
		"parishes_per_minute": p.GetParishesPerMinute(), "queue_size": p.GetQueueSize(),
		"pool_utilization": p.GetPoolUtilization(), "total_requests": p.GetTotalRequests(),
		"successful_requests": p.GetSuccessfulRequests(),
	})
}

func (r *restReporter) error(e *musterv1.ErrorEvent) {
	var diocese any
	if e.Diocese != nil {
		diocese = e.GetDiocese()
	}
	r.post("error", r.event(map[string]any{"type": e.GetType(), "message": e.GetMessage(), "diocese": diocese, "severity": e.GetSeverity()}))
}

func (r *restReporter) log(level, message string) {
	r.post("log", r.event(map[string]any{"message": message, "level": level, "module": "extraction"}))
}

func (r *restReporter) completion(e *musterv1.CompletedExtraction) {
	r.post("extraction_complete", r.event(map[string]any{
		"diocese_name": e.GetDioceseName(), "parishes_extracted": e.GetParishesExtracted(),
		"success_rate": e.GetSuccessRate(), "duration": e.GetDuration(), "status": e.GetStatus(),
	}))
}
