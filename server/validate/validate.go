// Package validate holds the rules every update must meet before it reaches
// the manager (CONTRACT §1, issue "strict validation"). The gRPC service
// applies them, so REST and gRPC clients are held to the same rules.
package validate

import (
	"fmt"
	"math"
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

func fail(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// WorkerID checks a worker id: 1-253 characters of A-Z a-z 0-9 . _ : -.
func WorkerID(field, id string) error {
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

// OptionalWorkerID checks a worker id that may be empty (the legacy worker,
// or a fleet-wide event).
func OptionalWorkerID(field, id string) error {
	if id == "" {
		return nil
	}
	return WorkerID(field, id)
}

func count(field string, v int64) error {
	if v < 0 || v > MaxCount {
		return fail(field, "must be between 0 and 2^53, got %d", v)
	}
	return nil
}

func percent(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 100 {
		return fail(field, "must be between 0 and 100, got %v", v)
	}
	return nil
}

func nonNegative(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fail(field, "must be a finite number of at least 0, got %v", v)
	}
	return nil
}

func text(field, s string, max int) error {
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
}](field string, v E) error {
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
		enum(field+".status", s.GetStatus()),
		text(field+".current_diocese", s.GetCurrentDiocese(), MaxDioceseLen),
		count(field+".parishes_processed", s.GetParishesProcessed()),
		count(field+".total_parishes", s.GetTotalParishes()),
		percent(field+".success_rate", s.GetSuccessRate()),
		percent(field+".progress_percentage", s.GetProgressPercentage()),
	)
}

// CircuitBreakers checks a set of breakers keyed by name.
func CircuitBreakers(field string, breakers map[string]*musterv1.CircuitBreaker) error {
	if len(breakers) > MaxBreakers {
		return fail(field, "at most %d breakers per update, got %d", MaxBreakers, len(breakers))
	}
	for name, b := range breakers {
		f := field + "." + name
		if name == "" {
			return fail(field, "breaker names must not be empty")
		}
		if err := First(
			text(f, name, MaxNameLen),
			enum(f+".state", b.GetState()),
			count(f+".total_requests", b.GetTotalRequests()),
			count(f+".total_successes", b.GetTotalSuccesses()),
			count(f+".total_failures", b.GetTotalFailures()),
			count(f+".total_blocked", b.GetTotalBlocked()),
			percent(f+".success_rate", b.GetSuccessRate()),
		); err != nil {
			return err
		}
	}
	return nil
}

// Performance checks performance metrics.
func Performance(field string, p *musterv1.PerformanceMetrics) error {
	return First(
		nonNegative(field+".parishes_per_minute", p.GetParishesPerMinute()),
		count(field+".queue_size", p.GetQueueSize()),
		percent(field+".pool_utilization", p.GetPoolUtilization()),
		count(field+".total_requests", p.GetTotalRequests()),
		count(field+".successful_requests", p.GetSuccessfulRequests()),
	)
}

func attributes(field string, attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return fail(field, "at most %d attributes, got %d", MaxAttributes, len(attrs))
	}
	for k, v := range attrs {
		if err := First(text(field, k, MaxNameLen), text(field+"."+k, v, MaxAttributeLen)); err != nil {
			return err
		}
	}
	return nil
}

// ErrorEvent checks an error event.
func ErrorEvent(field string, e *musterv1.ErrorEvent) error {
	return First(
		OptionalWorkerID(field+".worker_id", e.GetWorkerId()),
		text(field+".type", e.GetType(), MaxNameLen),
		text(field+".message", e.GetMessage(), MaxMessageLen),
		text(field+".diocese", e.GetDiocese(), MaxDioceseLen),
		text(field+".severity", e.GetSeverity(), MaxNameLen),
		attributes(field+".attributes", e.GetAttributes()),
	)
}

// LogEntry checks a log line.
func LogEntry(field string, e *musterv1.LogEntry) error {
	return First(
		OptionalWorkerID(field+".worker_id", e.GetWorkerId()),
		text(field+".message", e.GetMessage(), MaxMessageLen),
		text(field+".level", e.GetLevel(), MaxNameLen),
		text(field+".module", e.GetModule(), MaxNameLen),
		text(field+".worker_type", e.GetWorkerType(), MaxNameLen),
	)
}

// CompletedExtraction checks a completion.
func CompletedExtraction(field string, e *musterv1.CompletedExtraction) error {
	return First(
		OptionalWorkerID(field+".worker_id", e.GetWorkerId()),
		text(field+".diocese_name", e.GetDioceseName(), MaxDioceseLen),
		count(field+".parishes_extracted", e.GetParishesExtracted()),
		percent(field+".success_rate", e.GetSuccessRate()),
		nonNegative(field+".duration", e.GetDuration()),
		text(field+".status", e.GetStatus(), MaxNameLen),
		text(field+".parish_name", e.GetParishName(), MaxNameLen),
		text(field+".parish_url", e.GetParishUrl(), MaxMessageLen),
		text(field+".parish_address", e.GetParishAddress(), MaxDioceseLen),
		count(field+".schedules_found", e.GetSchedulesFound()),
		text(field+".mass_times", e.GetMassTimes(), MaxMessageLen),
		attributes(field+".attributes", e.GetAttributes()),
	)
}

// WorkerType checks a stated worker type.
func WorkerType(field, t string) error { return text(field, t, MaxNameLen) }
