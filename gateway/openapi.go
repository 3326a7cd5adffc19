package gateway

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// openAPISource is generated from the proto by protoc-gen-openapiv2
// (make generate).
//
//go:embed openapi/muster.swagger.json
var openAPISource []byte

// openAPI returns the OpenAPI document adjusted to the JSON this gateway
// actually writes (encode.go): 64-bit integers are numbers, not strings,
// and enums use their legacy spelling.
var openAPI = sync.OnceValues(func() ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPISource, &doc); err != nil {
		return nil, err
	}
	enums := map[string]protoreflect.EnumDescriptor{}
	file := musterv1.File_muster_v1_monitoring_proto
	for i := 0; i < file.Enums().Len(); i++ {
		ed := file.Enums().Get(i)
		enums["v1"+string(ed.Name())] = ed
	}
	if defs, ok := doc["definitions"].(map[string]any); ok {
		for name, def := range defs {
			if ed, ok := enums[name]; ok {
				schema := def.(map[string]any)
				var values []any
				for i := 1; i < ed.Values().Len(); i++ { // 0 is UNSPECIFIED, written as null
					values = append(values, enumWireName(ed, ed.Values().Get(i)))
				}
				schema["enum"] = values
				delete(schema, "default")
			}
		}
	}
	numbersForInt64(doc)
	return json.MarshalIndent(doc, "", "  ")
})

// numbersForInt64 retypes every 64-bit integer schema as a JSON integer.
func numbersForInt64(v any) {
	switch x := v.(type) {
	case map[string]any:
		if f := x["format"]; x["type"] == "string" && (f == "int64" || f == "uint64") {
			x["type"] = "integer"
		}
		for _, child := range x {
			numbersForInt64(child)
		}
	case []any:
		for _, child := range x {
			numbersForInt64(child)
		}
	}
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	doc, err := openAPI()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{Code: 500, Status: "INTERNAL", Message: "openapi: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}
