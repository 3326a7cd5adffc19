package gateway

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// errorBody is the JSON answer to a failed request. field and reason are
// set when one field was at fault.
type errorBody struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// fieldMessage matches "field.path: reason", the form of body decoding
// errors, which reach this handler as plain text.
var fieldMessage = regexp.MustCompile(`^([A-Za-z0-9_.\[\]-]+): (.+)$`)

func newErrorBody(err error) (int, errorBody) {
	st := status.Convert(err)
	httpCode := runtime.HTTPStatusFromCode(st.Code())
	body := errorBody{Code: httpCode, Status: code.Code(st.Code()).String(), Message: st.Message()}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			body.Field = br.GetFieldViolations()[0].GetField()
			body.Reason = br.GetFieldViolations()[0].GetDescription()
		}
	}
	if body.Field == "" {
		if m := fieldMessage.FindStringSubmatch(st.Message()); m != nil {
			body.Field, body.Reason = m[1], m[2]
		}
	}
	return httpCode, body
}

// writeError is the gateway's runtime.ErrorHandlerFunc.
func writeError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	httpCode, body := newErrorBody(err)
	if field := bodyRelative(ctx, body.Field); field != body.Field {
		body.Field, body.Message = field, field+": "+body.Reason
	}
	if httpCode == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
	}
	writeJSON(w, httpCode, body)
}

// bodyFields are the request fields the HTTP rules bind the body to
// (monitoring_http.yaml): REST clients send that field's content as the
// whole body.
var bodyFields = map[string]string{
	"UpdateExtractionStatus": "status.",
	"UpdateCircuitBreakers":  "circuit_breakers.",
	"UpdatePerformance":      "metrics.",
	"ReportError":            "error.",
	"ReportLog":              "entry.",
	"ReportCompletion":       "completion.",
}

// bodyRelative names a field as a REST client sees it: the service names
// fields from its request ("status.success_rate"), the client sent the
// body ("success_rate").
func bodyRelative(ctx context.Context, field string) string {
	method, ok := runtime.RPCMethod(ctx)
	if !ok {
		return field
	}
	prefix := bodyFields[method[strings.LastIndex(method, "/")+1:]]
	if prefix == "" {
		return field
	}
	return strings.TrimPrefix(field, prefix)
}

func writeJSON(w http.ResponseWriter, httpCode int, body errorBody) {
	b, _ := appendAny(nil, body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Trailer")
	w.WriteHeader(httpCode)
	_, _ = w.Write(b)
}

// isRead reports whether an RPC only reads, by the naming convention of
// the API; every other RPC answers HTTP with an acknowledgement.
func isRead(method string) bool {
	name := method[strings.LastIndex(method, "/")+1:]
	return strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") || strings.HasPrefix(name, "Watch")
}
