package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The deployed scripts' bodies are decoded here, and only here, with their
// quirks (CONTRACT §2): null means unset, unknown keys are kept as attributes
// or ignored, rates may be "95.6%" strings, enum names come in any case and
// without their prefix, and a breaker without total_successes gets one
// derived from its rate. Everything else about validity (ranges, ids) is the
// gRPC service's job, so REST and gRPC clients are held to the same rules.

// FieldError is a request body problem in one field. Field is the dotted
// path within the body, empty for the body as a whole.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// maxAttributes bounds the free-form attributes kept from one body.
const maxAttributes = 32

// serverAssigned lists fields a client cannot set; a body's value for one is
// kept as an attribute where the message has room.
var serverAssigned = map[protoreflect.FullName]bool{
	"muster.v1.ErrorEvent.timestamp":          true,
	"muster.v1.LogEntry.timestamp":            true,
	"muster.v1.CompletedExtraction.timestamp": true,
}

// afterDecode holds per-message fix-ups that need the raw body.
var afterDecode = map[protoreflect.FullName]func(m protoreflect.Message, body map[string]any){
	"muster.v1.CircuitBreaker": deriveBreakerSuccesses,
}

// deriveBreakerSuccesses fills total_successes from success_rate ×
// total_requests / 100 when a script left it out.
func deriveBreakerSuccesses(m protoreflect.Message, body map[string]any) {
	if body["total_successes"] != nil {
		return
	}
	fields := m.Descriptor().Fields()
	requests := m.Get(fields.ByName("total_requests")).Int()
	rate := m.Get(fields.ByName("success_rate")).Float()
	successes := math.Round(rate * float64(requests) / 100)
	if successes < 0 || successes > float64(requests) {
		return // leave it to validation to reject the rate
	}
	m.Set(fields.ByName("total_successes"), protoreflect.ValueOfInt64(int64(successes)))
}

var protoMessageType = reflect.TypeFor[proto.Message]()

// decodeBody decodes a JSON body into target: a proto.Message, a pointer to
// a message pointer, or a pointer to a map of messages (the shapes the
// generated gateway passes). An empty body is io.EOF.
func decodeBody(data []byte, target any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return io.EOF
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil {
		return &FieldError{Reason: "body is not valid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{Reason: "body is not valid JSON: unexpected data after the object"}
	}
	if m, ok := target.(proto.Message); ok {
		proto.Reset(m)
		return decodeMessage(m.ProtoReflect(), body, "")
	}
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("gateway: cannot decode into %T", target)
	}
	elem := rv.Elem()
	switch {
	case elem.Kind() == reflect.Pointer && elem.Type().Implements(protoMessageType):
		msg := reflect.New(elem.Type().Elem())
		if err := decodeMessage(msg.Interface().(proto.Message).ProtoReflect(), body, ""); err != nil {
			return err
		}
		elem.Set(msg)
		return nil
	case elem.Kind() == reflect.Map && elem.Type().Key().Kind() == reflect.String &&
		elem.Type().Elem().Implements(protoMessageType):
		obj, ok := body.(map[string]any)
		if !ok {
			return &FieldError{Reason: "body must be a JSON object"}
		}
		out := reflect.MakeMapWithSize(elem.Type(), len(obj))
		for _, key := range sortedKeys(obj) {
			msg := reflect.New(elem.Type().Elem().Elem())
			if err := decodeMessage(msg.Interface().(proto.Message).ProtoReflect(), obj[key], key); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(key).Convert(elem.Type().Key()), msg)
		}
		elem.Set(out)
		return nil
	default:
		return json.Unmarshal(data, target)
	}
}

func sortedKeys(obj map[string]any) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func decodeMessage(m protoreflect.Message, v any, path string) error {
	if v == nil {
		return nil
	}
	if m.Descriptor().FullName() == timestampName {
		return decodeTimestamp(m, v, path)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return &FieldError{Field: path, Reason: "must be a JSON object"}
	}
	fields := m.Descriptor().Fields()
	var attributes protoreflect.Map
	if fd := fields.ByName("attributes"); fd != nil && fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind {
		attributes = m.Mutable(fd).Map()
	}
	for _, key := range sortedKeys(obj) {
		val := obj[key]
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil {
			fd = fields.ByJSONName(key)
		}
		if fd == nil || serverAssigned[fd.FullName()] {
			if attributes != nil && val != nil && attributes.Len() < maxAttributes {
				attributes.Set(protoreflect.ValueOfString(key).MapKey(), protoreflect.ValueOfString(attributeText(val)))
			}
			continue
		}
		if val == nil {
			m.Clear(fd)
			continue
		}
		if err := decodeField(m, fd, val, join(path, key)); err != nil {
			return err
		}
	}
	if fix := afterDecode[m.Descriptor().FullName()]; fix != nil {
		fix(m, obj)
	}
	return nil
}

func attributeText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func decodeField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v any, path string) error {
	switch {
	case fd.IsList():
		items, ok := v.([]any)
		if !ok {
			return &FieldError{Field: path, Reason: "must be a JSON array"}
		}
		list := m.Mutable(fd).List()
		for i, item := range items {
			val, err := decodeValue(fd, list.NewElement, item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return err
			}
			list.Append(val)
		}
		return nil
	case fd.IsMap():
		obj, ok := v.(map[string]any)
		if !ok {
			return &FieldError{Field: path, Reason: "must be a JSON object"}
		}
		mp := m.Mutable(fd).Map()
		for _, key := range sortedKeys(obj) {
			if obj[key] == nil {
				continue
			}
			val, err := decodeValue(fd.MapValue(), mp.NewValue, obj[key], join(path, key))
			if err != nil {
				return err
			}
			mp.Set(protoreflect.ValueOfString(key).MapKey(), val)
		}
		return nil
	default:
		val, err := decodeValue(fd, func() protoreflect.Value { return m.NewField(fd) }, v, path)
		if err != nil {
			return err
		}
		m.Set(fd, val)
		return nil
	}
}

// decodeValue decodes one singular value of fd's kind; newMessage makes the
// container for a message value.
func decodeValue(fd protoreflect.FieldDescriptor, newMessage func() protoreflect.Value, v any, path string) (protoreflect.Value, error) {
	fail := func(reason string) (protoreflect.Value, error) {
		return protoreflect.Value{}, &FieldError{Field: path, Reason: reason}
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		val := newMessage()
		return val, decodeMessage(val.Message(), v, path)
	case protoreflect.BoolKind:
		switch x := v.(type) {
		case bool:
			return protoreflect.ValueOfBool(x), nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return protoreflect.ValueOfBool(b), nil
			}
		}
		return fail("must be true or false")
	case protoreflect.StringKind:
		switch x := v.(type) {
		case string:
			return protoreflect.ValueOfString(x), nil
		case json.Number:
			return protoreflect.ValueOfString(x.String()), nil
		case bool:
			return protoreflect.ValueOfString(strconv.FormatBool(x)), nil
		}
		return fail("must be a string")
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f, ok := number(v, true)
		if !ok {
			return fail("must be a number")
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fail("must be a finite number")
		}
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.EnumKind:
		return decodeEnum(fd.Enum(), v, path)
	case protoreflect.BytesKind:
		return fail("binary fields are not accepted")
	default: // integers
		f, ok := number(v, false)
		if !ok || f != math.Trunc(f) {
			return fail("must be a whole number")
		}
		switch fd.Kind() {
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			if f < math.MinInt32 || f > math.MaxInt32 {
				return fail("is out of range")
			}
			return protoreflect.ValueOfInt32(int32(f)), nil
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			if f < -(1<<63) || f >= 1<<63 {
				return fail("is out of range")
			}
			return protoreflect.ValueOfInt64(int64(f)), nil
		default:
			return fail("unsigned fields are not accepted")
		}
	}
}

// number reads a JSON number, or a numeric string; with percent, a trailing
// "%" is allowed ("95.6%").
func number(v any, percent bool) (float64, bool) {
	var text string
	switch x := v.(type) {
	case json.Number:
		text = x.String()
	case string:
		text = strings.TrimSpace(x)
		if percent {
			text = strings.TrimSpace(strings.TrimSuffix(text, "%"))
		}
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(text, 64)
	return f, err == nil
}

func decodeEnum(ed protoreflect.EnumDescriptor, v any, path string) (protoreflect.Value, error) {
	values := ed.Values()
	switch x := v.(type) {
	case string:
		want := strings.ToUpper(strings.TrimSpace(x))
		prefix := enumPrefix(ed)
		for i := 0; i < values.Len(); i++ {
			vd := values.Get(i)
			if vd.Number() != 0 && (string(vd.Name()) == want || string(vd.Name()) == prefix+want) {
				return protoreflect.ValueOfEnum(vd.Number()), nil
			}
		}
	case json.Number:
		if n, err := x.Int64(); err == nil && n != 0 && values.ByNumber(protoreflect.EnumNumber(n)) != nil {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
	}
	names := make([]string, 0, values.Len())
	for i := 1; i < values.Len(); i++ {
		names = append(names, enumWireName(ed, values.Get(i)))
	}
	return protoreflect.Value{}, &FieldError{Field: path, Reason: fmt.Sprintf("unknown value %s; want one of %s", attributeText(v), strings.Join(names, ", "))}
}

// timeLayouts are the ISO-8601 forms scripts send: Python's isoformat with
// and without an offset, and RFC 3339.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func decodeTimestamp(m protoreflect.Message, v any, path string) error {
	var t time.Time
	switch x := v.(type) {
	case string:
		ok := false
		for _, layout := range timeLayouts {
			if parsed, err := time.Parse(layout, strings.TrimSpace(x)); err == nil {
				t, ok = parsed, true
				break
			}
		}
		if !ok {
			return &FieldError{Field: path, Reason: "must be an ISO-8601 time"}
		}
	case json.Number:
		secs, err := x.Float64()
		if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return &FieldError{Field: path, Reason: "must be an ISO-8601 time or Unix seconds"}
		}
		t = time.Unix(0, 0).Add(time.Duration(secs * float64(time.Second)))
	default:
		return &FieldError{Field: path, Reason: "must be an ISO-8601 time"}
	}
	ts := timestamppb.New(t)
	if err := ts.CheckValid(); err != nil {
		return &FieldError{Field: path, Reason: "is out of range"}
	}
	proto.Merge(m.Interface(), ts)
	return nil
}
