// Package validate holds the rules every update must meet before it reaches
// the manager (CONTRACT §1, issue "strict validation"). The gRPC service
// applies them, so REST and gRPC clients are held to the same rules.
package validate

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits on what one update may carry.
const (
	MaxWorkerIDLen  = 253
	MaxCount        = 1 << 53 // largest count a JSON number holds exactly
	MaxDioceseLen   = 512
	MaxMessageLen   = 8 << 10
	MaxNameLen      = 256
	MaxBreakers     = 256
	MaxAttributes   = 32
	MaxAttributeLen = 1 << 10
)

// Error is a rule broken by one field of a request.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// path names a field. It is joined into a string only when a rule is
// broken: valid updates, the hot path, build no strings.
type path struct{ parts [3]string }

func at(parts ...string) path {
	var p path
	copy(p.parts[:], parts)
	return p
}

func (p path) String() string {
	var sb strings.Builder
	for _, part := range p.parts {
		if part == "" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(part)
	}
	return sb.String()
}

func fail(field path, format string, args ...any) error {
	return &Error{Field: field.String(), Reason: fmt.Sprintf(format, args...)}
}

// WorkerID checks a worker id: 1-253 characters of A-Z a-z 0-9 . _ : -.
func WorkerID(field, id string) error { return workerID(at(field), id) }

// OptionalWorkerID checks a worker id that may be empty (the legacy worker,
// or a fleet-wide event).
func OptionalWorkerID(field, id string) error { return optionalWorkerID(at(field), id) }

func workerID(field path, id string) error {
	if id == "" {
		return fail(field, "must not be empty")
	}
	if len(id) > MaxWorkerIDLen {
		return fail(field, "must be at most %d characters", MaxWorkerIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fail(field, "%q has a character outside A-Z a-z 0-9 . _ : -", id)
		}
	}
	return nil
}

func optionalWorkerID(field path, id string) error {
	if id == "" {
		return nil
	}
	return workerID(field, id)
}

func count(field path, v int64) error {
	if v < 0 || v > MaxCount {
		return fail(field, "must be between 0 and 2^53, got %d", v)
	}
	return nil
}

func percent(field path, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 100 {
		return fail(field, "must be between 0 and 100, got %v", v)
	}
	return nil
}

func nonNegative(field path, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fail(field, "must be a finite number of at least 0, got %v", v)
	}
	return nil
}

func text(field path, s string, max int) error {
	if len(s) > max {
		return fail(field, "must be at most %d bytes, got %d", max, len(s))
	}
	if !utf8.ValidString(s) {
		return fail(field, "must be valid UTF-8")
	}
	return nil
}

func enum[E interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}](field path, v E) error {
	if v.Descriptor().Values().ByNumber(protoreflect.EnumNumber(v)) == nil {
		return fail(field, "unknown value %d", int32(v))
	}
	return nil
}

// First returns the first non-nil error: the rules of a request are
// checked in field order and the first broken one is reported.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ExtractionStatus checks an extraction status.
func ExtractionStatus(field string, s *musterv1.ExtractionStatus) error {
	if s == nil {
		return nil
	}
	return First(
		enum(at(field, "status"), s.GetStatus()),
		text(at(field, "current_diocese"), s.GetCurrentDiocese(), MaxDioceseLen),
		count(at(field, "parishes_processed"), s.GetParishesProcessed()),
		count(at(field, "total_parishes"), s.GetTotalParishes()),
		percent(at(field, "success_rate"), s.GetSuccessRate()),
		percent(at(field, "progress_percentage"), s.GetProgressPercentage()),
	)
}

// CircuitBreakers checks a set of breakers keyed by name.
func CircuitBreakers(field string, breakers map[string]*musterv1.CircuitBreaker) error {
	if len(breakers) > MaxBreakers {
		return fail(at(field), "at most %d breakers per update, got %d", MaxBreakers, len(breakers))
	}
	for name, b := range breakers {
		if name == "" {
			return fail(at(field), "breaker names must not be empty")
		}
		if err := First(
			text(at(field, name), name, MaxNameLen),
			enum(at(field, name, "state"), b.GetState()),
			count(at(field, name, "total_requests"), b.GetTotalRequests()),
			count(at(field, name, "total_successes"), b.GetTotalSuccesses()),
			count(at(field, name, "total_failures"), b.GetTotalFailures()),
			count(at(field, name, "total_blocked"), b.GetTotalBlocked()),
			percent(at(field, name, "success_rate"), b.GetSuccessRate()),
		); err != nil {
			return err
		}
	}
	return nil
}

// Performance checks performance metrics.
func Performance(field string, p *musterv1.PerformanceMetrics) error {
	return First(
		nonNegative(at(field, "parishes_per_minute"), p.GetParishesPerMinute()),
		count(at(field, "queue_size"), p.GetQueueSize()),
		percent(at(field, "pool_utilization"), p.GetPoolUtilization()),
		count(at(field, "total_requests"), p.GetTotalRequests()),
		count(at(field, "successful_requests"), p.GetSuccessfulRequests()),
	)
}

func attributes(field path, attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return fail(field, "at most %d attributes, got %d", MaxAttributes, len(attrs))
	}
	for k, v := range attrs {
		if err := First(text(field, k, MaxNameLen), text(at(field.String(), k), v, MaxAttributeLen)); err != nil {
			return err
		}
	}
	return nil
}

// ErrorEvent checks an error event.
func ErrorEvent(field string, e *musterv1.ErrorEvent) error {
	return First(
		optionalWorkerID(at(field, "worker_id"), e.GetWorkerId()),
		text(at(field, "type"), e.GetType(), MaxNameLen),
		text(at(field, "message"), e.GetMessage(), MaxMessageLen),
		text(at(field, "diocese"), e.GetDiocese(), MaxDioceseLen),
		text(at(field, "severity"), e.GetSeverity(), MaxNameLen),
		attributes(at(field, "attributes"), e.GetAttributes()),
	)
}

// LogEntry checks a log line.
func LogEntry(field string, e *musterv1.LogEntry) error {
	return First(
		optionalWorkerID(at(field, "worker_id"), e.GetWorkerId()),
		text(at(field, "message"), e.GetMessage(), MaxMessageLen),
		text(at(field, "level"), e.GetLevel(), MaxNameLen),
		text(at(field, "module"), e.GetModule(), MaxNameLen),
		text(at(field, "worker_type"), e.GetWorkerType(), MaxNameLen),
	)
}

// CompletedExtraction checks a completion.
func CompletedExtraction(field string, e *musterv1.CompletedExtraction) error {
	return First(
		optionalWorkerID(at(field, "worker_id"), e.GetWorkerId()),
		text(at(field, "diocese_name"), e.GetDioceseName(), MaxDioceseLen),
		count(at(field, "parishes_extracted"), e.GetParishesExtracted()),
		percent(at(field, "success_rate"), e.GetSuccessRate()),
		nonNegative(at(field, "duration"), e.GetDuration()),
		text(at(field, "status"), e.GetStatus(), MaxNameLen),
		text(at(field, "parish_name"), e.GetParishName(), MaxNameLen),
		text(at(field, "parish_url"), e.GetParishUrl(), MaxMessageLen),
		text(at(field, "parish_address"), e.GetParishAddress(), MaxDioceseLen),
		count(at(field, "schedules_found"), e.GetSchedulesFound()),
		text(at(field, "mass_times"), e.GetMassTimes(), MaxMessageLen),
		attributes(at(field, "attributes"), e.GetAttributes()),
	)
}

// WorkerType checks a stated worker type.
func WorkerType(field, t string) error { return text(at(field), t, MaxNameLen) }
