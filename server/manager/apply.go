package manager

import (
	"errors"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
)

// Apply applies one update in the form a Report stream carries it: the
// form in which the service hands over every accepted update, locally or
// through replication. Events carry their own worker id.
func (m *Manager) Apply(req *musterv1.ReportRequest) error {
	id := req.GetWorkerId()
	switch u := req.GetUpdate().(type) {
	case *musterv1.ReportRequest_ExtractionStatus:
		return m.UpdateExtractionStatus(id, u.ExtractionStatus)
	case *musterv1.ReportRequest_CircuitBreakers:
		return m.UpdateCircuitBreakers(id, u.CircuitBreakers.GetBreakers())
	case *musterv1.ReportRequest_Performance:
		return m.UpdatePerformance(id, u.Performance)
	case *musterv1.ReportRequest_Error:
		return m.ReportError(orEmpty(u.Error))
	case *musterv1.ReportRequest_Log:
		return m.ReportLog(orEmpty(u.Log))
	case *musterv1.ReportRequest_Completion:
		return m.ReportCompletion(orEmpty(u.Completion))
	case *musterv1.ReportRequest_Heartbeat:
		return m.Heartbeat(id, u.Heartbeat.GetWorkerType())
	default:
		return errors.New("manager: update has no content")
	}
}

func orEmpty[T any, P interface{ *T }](p P) P {
	if p == nil {
		return new(T)
	}
	return p
}
