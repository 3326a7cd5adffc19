package gateway

import (
	"encoding/json"
	"io"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// codec is the gateway's runtime.Marshaler: the legacy JSON shapes out
// (encode.go) and the legacy quirks in (decode.go).
type codec struct{}

var _ runtime.Marshaler = codec{}

func (codec) ContentType(any) string { return "application/json" }

func (codec) Marshal(v any) ([]byte, error) { return appendAny(nil, v) }

func (codec) Unmarshal(data []byte, v any) error { return decodeBody(data, v) }

func (codec) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return decodeBody(data, v)
	})
}

func (c codec) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		b, err := c.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	})
}

// Delimiter separates the messages of a streamed response (one per line).
func (codec) Delimiter() []byte { return []byte("\n") }

// ack is the answer to a write: {"status": "success"} plus the fields of
// the RPC's response, if any (CONTRACT §2).
type ack struct{ msg proto.Message }

func appendAny(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case ack:
		b = append(b, `{"status":"success"`...)
		inner := appendMessage(nil, x.msg.ProtoReflect())
		if len(inner) > 2 { // not "{}"
			b = append(b, ',')
			b = append(b, inner[1:len(inner)-1]...)
		}
		return append(b, '}'), nil
	case proto.Message:
		return appendMessage(b, x.ProtoReflect()), nil
	case map[string]proto.Message:
		if st, ok := x["error"].(*spb.Status); ok && len(x) == 1 {
			// A streamed error (grpc-gateway's {"error": ...} chunk) in the
			// same shape as every other error answer.
			_, body := newErrorBody(status.ErrorProto(st))
			b = append(b, `{"error":`...)
			b, err := appendAny(b, body)
			return append(b, '}'), err
		}
		generic := make(map[string]any, len(x))
		for k, m := range x {
			generic[k] = m
		}
		return appendAny(b, generic)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendAny(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	default:
		data, err := json.Marshal(v)
		return append(b, data...), err
	}
}
