package client

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/proto"
)

// The queue tests spell updates as "s:name" (an extraction status of
// diocese name) and "l:name" (a log line); ops add "take:n" (hold the first
// n entries, as the sender does) and "requeue" (put the held ones back).

func testUpdate(spec string) *musterv1.ReportRequest {
	kind, name, _ := strings.Cut(spec, ":")
	if kind == "s" {
		return &musterv1.ReportRequest{Update: &musterv1.ReportRequest_ExtractionStatus{
			ExtractionStatus: &musterv1.ExtractionStatus{CurrentDiocese: proto.String(name)},
		}}
	}
	return &musterv1.ReportRequest{Update: &musterv1.ReportRequest_Log{Log: &musterv1.LogEntry{Message: name}}}
}

func spell(req *musterv1.ReportRequest) string {
	if isStatus(req) {
		return "s:" + req.GetExtractionStatus().GetCurrentDiocese()
	}
	return "l:" + req.GetLog().GetMessage()
}

func spellAll(entries []entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, spell(e.req))
	}
	return out
}

func TestQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		size        int
		ops         []string
		want        []string
		wantDropped uint64
	}{
		{
			name: "keeps order while there is room",
			size: 4,
			ops:  []string{"l:1", "s:a", "l:2"},
			want: []string{"l:1", "s:a", "l:2"},
		},
		{
			name:        "drops the oldest first",
			size:        3,
			ops:         []string{"l:1", "l:2", "l:3", "l:4", "l:5"},
			want:        []string{"l:3", "l:4", "l:5"},
			wantDropped: 2,
		},
		{
			name:        "the pending status survives being the oldest",
			size:        3,
			ops:         []string{"s:a", "l:1", "l:2", "l:3", "l:4"},
			want:        []string{"s:a", "l:3", "l:4"},
			wantDropped: 2,
		},
		{
			name: "a newer status replaces the pending one without a drop",
			size: 3,
			ops:  []string{"s:a", "l:1", "s:b"},
			want: []string{"l:1", "s:b"},
		},
		{
			name:        "the newest status survives a flood",
			size:        3,
			ops:         []string{"s:a", "l:1", "l:2", "s:b", "l:3", "l:4", "l:5"},
			want:        []string{"s:b", "l:4", "l:5"},
			wantDropped: 3,
		},
		{
			name:        "a size below 2 is raised to 2",
			size:        0,
			ops:         []string{"s:a", "l:1", "l:2"},
			want:        []string{"s:a", "l:2"},
			wantDropped: 1,
		},
		{
			name: "take removes from the front",
			size: 4,
			ops:  []string{"l:1", "s:a", "l:2", "take:2"},
			want: []string{"l:2"},
		},
		{
			name: "a taken status is no longer pending",
			size: 4,
			ops:  []string{"s:a", "take:1", "s:b"},
			want: []string{"s:b"},
		},
		{
			name: "requeue puts unacknowledged entries back in front",
			size: 5,
			ops:  []string{"l:1", "s:a", "l:2", "take:3", "l:3", "requeue"},
			want: []string{"l:1", "s:a", "l:2", "l:3"},
		},
		{
			name: "a requeued status loses to a newer pending one",
			size: 5,
			ops:  []string{"l:1", "s:a", "take:2", "s:b", "requeue"},
			want: []string{"l:1", "s:b"},
		},
		{
			name: "only the newest of several requeued statuses stays",
			size: 5,
			ops:  []string{"s:a", "take:1", "s:b", "take:1", "l:1", "requeue"},
			want: []string{"s:b", "l:1"},
		},
		{
			name:        "requeued entries are the first to go when full",
			size:        3,
			ops:         []string{"l:1", "s:a", "l:2", "take:3", "l:3", "l:4", "requeue"},
			want:        []string{"s:a", "l:3", "l:4"},
			wantDropped: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(tt.size)
			var held []entry
			for _, op := range tt.ops {
				switch kind, arg, _ := strings.Cut(op, ":"); kind {
				case "take":
					n, _ := strconv.Atoi(arg)
					held = append(held, q.take(n)...)
				case "requeue":
					q.requeue(held)
					held = nil
				default:
					q.push(testUpdate(op))
				}
			}
			if diff := cmp.Diff(tt.want, spellAll(q.items)); diff != "" {
				t.Errorf("queued (-want +got):\n%s", diff)
			}
			if got := q.droppedCount(); got != tt.wantDropped {
				t.Errorf("dropped = %d, want %d", got, tt.wantDropped)
			}
			for i := 1; i < len(q.items); i++ {
				if q.items[i-1].seq >= q.items[i].seq {
					t.Errorf("entries out of order: %v", q.items)
				}
			}
		})
	}
}

func TestQueueSeqAndClose(t *testing.T) {
	t.Parallel()
	q := newQueue(2)
	for i := range 3 {
		if got, want := q.push(testUpdate("l:x")), uint64(i+1); got != want {
			t.Errorf("push %d: seq = %d, want %d", i, got, want)
		}
	}
	if got := q.last(); got != 3 {
		t.Errorf("last = %d, want 3", got)
	}
	q.close()
	if got := q.push(testUpdate("l:late")); got != 0 {
		t.Errorf("push after close: seq = %d, want 0", got)
	}
	if got, want := q.droppedCount(), uint64(2); got != want {
		t.Errorf("dropped = %d, want %d (one to overflow, one after close)", got, want)
	}
	if got := q.len(); got != 2 {
		t.Errorf("len after close = %d, want 2: close keeps what is queued", got)
	}
}
