package gateway

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestOpenAPIAgreesWithTheLegacyShapes checks a few paths and fields of the
// served document against what the contract and the encoder produce.
func TestOpenAPIAgreesWithTheLegacyShapes(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	serveOpenAPI(rec, httptest.NewRequest("GET", "/api/monitoring/openapi.json", nil))
	var doc struct {
		Paths       map[string]map[string]any `json:"paths"`
		Definitions map[string]struct {
			Properties map[string]struct {
				Type string `json:"type"`
				Ref  string `json:"$ref"`
			} `json:"properties"`
			Enum []string `json:"enum"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for path, method := range map[string]string{
		"/api/monitoring/extraction_status":                      "post",
		"/api/monitoring/circuit_breakers":                       "post",
		"/api/monitoring/status":                                 "get",
		"/api/monitoring/workers":                                "get",
		"/api/monitoring/worker/{worker_id}":                     "delete",
		"/api/monitoring/worker/{worker_id}/heartbeat":           "post",
		"/api/monitoring/worker/{worker_id}/extraction_complete": "post",
		"/api/monitoring/mode/{mode}":                            "post",
		"/api/monitoring/watch":                                  "get",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("no %s %s", method, path)
		}
	}
	summary := doc.Definitions["v1WorkerSummary"].Properties
	if summary["parishes_processed"].Type != "integer" || summary["worker_id"].Type != "string" || summary["health"].Ref == "" {
		t.Errorf("WorkerSummary properties = %+v", summary)
	}
	if got := doc.Definitions["v1ExtractionAggregate"].Properties["active_workers"].Type; got != "integer" {
		t.Errorf("active_workers type = %q", got)
	}
	if got := doc.Definitions["v1ExtractionState"].Enum; !slices.Equal(got, []string{"running", "paused", "idle", "completed", "error", "stale"}) {
		t.Errorf("ExtractionState enum = %v", got)
	}
	if got := doc.Definitions["v1BreakerState"].Enum; !slices.Equal(got, []string{"CLOSED", "HALF_OPEN", "OPEN"}) {
		t.Errorf("BreakerState enum = %v", got)
	}
}
