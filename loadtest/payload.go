package loadtest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Kind is what each update reports.
type Kind string

// The kinds of update the load can send.
const (
	KindStatus    Kind = "status"    // a full extraction status (the most common update)
	KindBreakers  Kind = "breakers"  // two circuit breakers
	KindHeartbeat Kind = "heartbeat" // liveness only
)

// ParseKind checks a kind's name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case KindStatus, KindBreakers, KindHeartbeat:
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (want status, breakers or heartbeat)", s)
}

const workerPrefix = "bench-"

// WorkerID names worker i of the simulated fleet.
func WorkerID(i int) string { return fmt.Sprintf("%s%06d", workerPrefix, i) }

// workerIndex is WorkerID's inverse; -1 for any other id.
func workerIndex(id string) int {
	rest, ok := strings.CutPrefix(id, workerPrefix)
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return -1
	}
	return n
}

var dioceses = []string{
	"Archdiocese of Atlanta", "Diocese of Savannah", "Archdiocese of Boston", "Diocese of Charleston",
	"Archdiocese of Chicago", "Diocese of Dallas", "Archdiocese of Denver", "Diocese of Fresno",
	"Archdiocese of Galveston-Houston", "Diocese of Honolulu", "Archdiocese of Los Angeles", "Diocese of Memphis",
	"Archdiocese of Miami", "Diocese of Nashville", "Archdiocese of New Orleans", "Diocese of Orlando",
	"Archdiocese of Philadelphia", "Diocese of Raleigh", "Archdiocese of San Antonio", "Diocese of Tucson",
}

// totalParishes is large so that every sequence number is valid progress.
const totalParishes = 1 << 40

// startedAt is every simulated extraction's start.
var startedAt = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// The update for worker i's seq-th report carries seq as parishes_processed,
// which is how a watcher matches what it sees to when it was sent.

func statusMsg(i int, seq int64) *musterv1.ExtractionStatus {
	d := dioceses[i%len(dioceses)]
	return &musterv1.ExtractionStatus{
		Status:            musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
		CurrentDiocese:    &d,
		ParishesProcessed: seq,
		TotalParishes:     totalParishes,
		SuccessRate:       float64(90 + i%10),
		StartedAt:         timestamppb.New(startedAt),
	}
}

func breakersMsg(i int, seq int64) map[string]*musterv1.CircuitBreaker {
	return map[string]*musterv1.CircuitBreaker{
		"diocese_api": {State: musterv1.BreakerState_BREAKER_STATE_CLOSED, TotalRequests: seq + 10, TotalSuccesses: seq + 9, TotalFailures: 1, SuccessRate: 90},
		"parish_site": {State: musterv1.BreakerState_BREAKER_STATE_HALF_OPEN, TotalRequests: seq + 20, TotalSuccesses: seq + 10, TotalFailures: 10, TotalBlocked: int64(i % 5)},
	}
}

// reportMsg is the Report stream's form of worker i's seq-th update.
func reportMsg(kind Kind, i int, seq int64) *musterv1.ReportRequest {
	r := &musterv1.ReportRequest{WorkerId: WorkerID(i)}
	switch kind {
	case KindBreakers:
		r.Update = &musterv1.ReportRequest_CircuitBreakers{CircuitBreakers: &musterv1.CircuitBreakers{Breakers: breakersMsg(i, seq)}}
	case KindHeartbeat:
		r.Update = &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{WorkerType: "bench"}}
	default:
		r.Update = &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: statusMsg(i, seq)}
	}
	return r
}

// restPath is the worker-scoped REST path of an update of kind.
func restPath(kind Kind, i int) string {
	name := "extraction_status"
	switch kind {
	case KindBreakers:
		name = "circuit_breakers"
	case KindHeartbeat:
		name = "heartbeat"
	}
	return "/api/monitoring/worker/" + WorkerID(i) + "/" + name
}

// appendLegacyJSON appends the body a deployed script sends for worker i's
// seq-th update: the whole object, nulls for absent values.
func appendLegacyJSON(b []byte, kind Kind, i int, seq int64) []byte {
	switch kind {
	case KindBreakers:
		b = append(b, `{"diocese_api":{"state":"closed","total_requests":`...)
		b = strconv.AppendInt(b, seq+10, 10)
		b = append(b, `,"total_successes":`...)
		b = strconv.AppendInt(b, seq+9, 10)
		b = append(b, `,"total_failures":1,"total_blocked":0,"success_rate":"90.0%"},"parish_site":{"state":"half_open","total_requests":`...)
		b = strconv.AppendInt(b, seq+20, 10)
		b = append(b, `,"total_successes":`...)
		b = strconv.AppendInt(b, seq+10, 10)
		b = append(b, `,"total_failures":10,"total_blocked":`...)
		b = strconv.AppendInt(b, int64(i%5), 10)
		return append(b, `,"success_rate":50.0}}`...)
	case KindHeartbeat:
		return append(b, `{"worker_type":"bench"}`...)
	}
	b = append(b, `{"status":"running","current_diocese":"`...)
	b = append(b, dioceses[i%len(dioceses)]...)
	b = append(b, `","parishes_processed":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"total_parishes":`...)
	b = strconv.AppendInt(b, totalParishes, 10)
	b = append(b, `,"success_rate":`...)
	b = strconv.AppendInt(b, int64(90+i%10), 10)
	b = append(b, `.0,"progress_percentage":0.0,"started_at":"2026-01-05T10:00:00+00:00","estimated_completion":null}`...)
	return b
}

// eventMsgs are the reports that fill worker i's event buffers: n of each
// kind, each about as large as what real workers send.
func eventMsgs(i, errors, logs, completions int) []*musterv1.ReportRequest {
	id := WorkerID(i)
	d := dioceses[i%len(dioceses)]
	var out []*musterv1.ReportRequest
	for k := range errors {
		out = append(out, &musterv1.ReportRequest{WorkerId: id, Update: &musterv1.ReportRequest_Error{Error: &musterv1.ErrorEvent{
			Type: "ExtractionError", Severity: "error", Diocese: &d,
			Message: fmt.Sprintf("timeout after 30s fetching https://example.org/parishes/%d/mass-times (attempt %d)", k, k%3+1),
		}}})
	}
	for k := range logs {
		out = append(out, &musterv1.ReportRequest{WorkerId: id, Update: &musterv1.ReportRequest_Log{Log: &musterv1.LogEntry{
			Level: "INFO", Module: "extractor.parish", WorkerType: "bench",
			Message: fmt.Sprintf("extracted parish %d of %s: 6 mass times, 2 confession times", k, d),
		}}})
	}
	for k := range completions {
		name := fmt.Sprintf("St. Mary Parish %d", k)
		url := fmt.Sprintf("https://example.org/parishes/%d", k)
		out = append(out, &musterv1.ReportRequest{WorkerId: id, Update: &musterv1.ReportRequest_Completion{Completion: &musterv1.CompletedExtraction{
			DioceseName: d, ParishesExtracted: int64(k), SuccessRate: 95.5, Duration: 12.5, Status: "completed",
			ParishName: &name, ParishUrl: &url,
		}}})
	}
	return out
}
