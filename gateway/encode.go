package gateway

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The legacy JSON shapes (CONTRACT §2) differ from protojson in ways the
// deployed browser code depends on, so messages are written by hand here:
//   - snake_case keys, every field present (unset optional and message
//     fields as null, empty lists as []);
//   - 64-bit integers as JSON numbers, never quoted strings;
//   - enums as their legacy spelling ("running", "HALF_OPEN", "fresh");
//   - timestamps in Python's isoformat ("2026-01-05T10:00:00.000001+00:00").

var timestampName = (&timestamppb.Timestamp{}).ProtoReflect().Descriptor().FullName()

// upperCaseEnums keeps the legacy upper-case spelling of breaker states;
// every other enum is written in lower case.
var upperCaseEnums = map[protoreflect.FullName]bool{
	"muster.v1.BreakerState": true,
}

func appendMessage(b []byte, m protoreflect.Message) []byte {
	if m.Descriptor().FullName() == timestampName {
		return appendTimestamp(b, m)
	}
	b = append(b, '{')
	fields := m.Descriptor().Fields()
	first := true
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && !m.Has(fd) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
		b = appendField(b, m, fd)
	}
	return append(b, '}')
}

func appendField(b []byte, m protoreflect.Message, fd protoreflect.FieldDescriptor) []byte {
	switch {
	case fd.IsList():
		list := m.Get(fd).List()
		b = append(b, '[')
		for i := 0; i < list.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, fd, list.Get(i))
		}
		return append(b, ']')
	case fd.IsMap():
		mp := m.Get(fd).Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, func(x, y protoreflect.MapKey) int { return strings.Compare(x.String(), y.String()) })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k.String())
			b = append(b, ':')
			b = appendValue(b, fd.MapValue(), mp.Get(k))
		}
		return append(b, '}')
	case fd.HasPresence() && !m.Has(fd):
		return append(b, "null"...)
	default:
		return appendValue(b, fd, m.Get(fd))
	}
}

func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return appendFloat(b, v.Float())
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		return appendString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
	case protoreflect.EnumKind:
		return appendEnum(b, fd.Enum(), v.Enum())
	default: // message or group
		return appendMessage(b, v.Message())
	}
}

// appendEnum writes an enum value without its type prefix; the zero
// (unspecified) value is null.
func appendEnum(b []byte, ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) []byte {
	if n == 0 {
		return append(b, "null"...)
	}
	vd := ed.Values().ByNumber(n)
	if vd == nil {
		return strconv.AppendInt(b, int64(n), 10)
	}
	return appendString(b, enumWireName(ed, vd))
}

func enumWireName(ed protoreflect.EnumDescriptor, vd protoreflect.EnumValueDescriptor) string {
	name := strings.TrimPrefix(string(vd.Name()), enumPrefix(ed))
	if upperCaseEnums[ed.FullName()] {
		return name
	}
	return strings.ToLower(name)
}

// enumPrefix is the UPPER_SNAKE form of the enum's name plus "_", the prefix
// buf lint requires on every value.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	var sb strings.Builder
	for i, r := range string(ed.Name()) {
		if i > 0 && r >= 'A' && r <= 'Z' {
			sb.WriteByte('_')
		}
		sb.WriteRune(r)
	}
	return strings.ToUpper(sb.String()) + "_"
}

// appendFloat writes a float as encoding/json does; non-finite values, which
// validation keeps out of the state, would be invalid JSON and become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, 64)
}

// appendTimestamp writes Python's datetime.isoformat() of a UTC time, the
// form the deployed scripts send and parse.
func appendTimestamp(b []byte, m protoreflect.Message) []byte {
	ts, ok := m.Interface().(*timestamppb.Timestamp)
	if !ok {
		var t timestamppb.Timestamp
		proto.Merge(&t, m.Interface())
		ts = &t
	}
	t := ts.AsTime().UTC()
	layout := "2006-01-02T15:04:05-07:00"
	if t.Nanosecond()/int(time.Microsecond) != 0 {
		layout = "2006-01-02T15:04:05.000000-07:00"
	}
	b = append(b, '"')
	b = t.AppendFormat(b, layout)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
