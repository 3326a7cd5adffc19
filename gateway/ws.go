package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// The old React dashboard's feed (CONTRACT §2): /ws/monitoring sends
// {"type": ..., "payload": ...} messages and answers {"type":"ping"} with
// {"type":"pong"}. It reads the same Watch stream as every other watcher.

const (
	// wsQueue bounds what one connection may have waiting; a connection that
	// falls that far behind is dropped rather than slowing anyone else.
	wsQueue = 256
	// healthEvery is how often system_health is pushed.
	healthEvery    = 5 * time.Second
	wsWriteTimeout = 10 * time.Second
)

// legacyMessage is one message of the old feed.
type legacyMessage struct {
	kind    string
	payload any // a proto message, or map[string]any
}

func (m legacyMessage) marshal() ([]byte, error) {
	b := append(appendString([]byte(`{"type":`), m.kind), '}')
	if m.payload == nil {
		return b, nil
	}
	b = append(b[:len(b)-1], `,"payload":`...)
	b, err := appendAny(b, m.payload)
	return append(b, '}'), err
}

type wsHandler struct {
	api         musterv1.MonitoringServiceClient
	origins     []string // admitted besides the request's own host
	connections prometheus.Gauge
	dropped     prometheus.Counter
}

func newWSHandler(api musterv1.MonitoringServiceClient, origins []string, reg prometheus.Registerer) *wsHandler {
	h := &wsHandler{
		api: api, origins: origins,
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "muster_websocket_connections", Help: "Open /ws/monitoring connections.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "muster_websocket_dropped_total", Help: "/ws/monitoring connections closed because they could not keep up.",
		}),
	}
	reg.MustRegister(h.connections, h.dropped)
	return h
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// Browsers cannot set headers on a WebSocket: a token may come as ?token=.
	if auth := r.Header.Get("Authorization"); auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
	} else if token := r.URL.Query().Get("token"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	// A read before the upgrade, so that a missing token is a plain 401.
	if _, err := h.api.GetStatus(ctx, &musterv1.GetStatusRequest{}); err != nil {
		writeError(ctx, nil, nil, w, r, err)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.origins})
	if err != nil {
		return // Accept has answered (403 for a foreign origin)
	}
	defer conn.CloseNow()
	h.connections.Inc()
	defer h.connections.Dec()

	out := make(chan legacyMessage, wsQueue)
	send := func(m legacyMessage) bool {
		select {
		case out <- m:
			return true
		default:
			return false
		}
	}
	errc := make(chan error, 3)
	go func() { errc <- h.readPings(ctx, conn, send) }()
	go func() { errc <- h.forwardWatch(ctx, send) }()
	go func() { errc <- h.writeLoop(ctx, conn, out) }()
	err = <-errc
	cancel()
	switch {
	case errors.Is(err, errTooSlow):
		h.dropped.Inc()
		conn.Close(websocket.StatusPolicyViolation, "too slow: send queue full")
	case websocket.CloseStatus(err) != -1 || errors.Is(err, context.Canceled):
		conn.Close(websocket.StatusNormalClosure, "")
	default:
		conn.Close(websocket.StatusGoingAway, "feed ended")
	}
}

var errTooSlow = errors.New("websocket client too slow")

// readPings answers pings; the old dashboard sends nothing else.
func (h *wsHandler) readPings(ctx context.Context, conn *websocket.Conn, send func(legacyMessage) bool) error {
	conn.SetReadLimit(4 << 10)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var msg struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &msg) == nil && msg.Type == "ping" {
			if !send(legacyMessage{kind: "pong"}) {
				return errTooSlow
			}
		}
	}
}

// forwardWatch turns the Watch stream into the old message types.
func (h *wsHandler) forwardWatch(ctx context.Context, send func(legacyMessage) bool) error {
	stream, err := h.api.Watch(ctx, &musterv1.WatchRequest{})
	if err != nil {
		return err
	}
	health := time.NewTicker(healthEvery)
	defer health.Stop()
	events := make(chan *musterv1.WatchResponse)
	recvErr := make(chan error, 1)
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	pushHealth := func() bool {
		st, err := h.api.GetStatus(ctx, &musterv1.GetStatusRequest{})
		return err != nil || send(legacyMessage{kind: "system_health", payload: st.GetSystemHealth()})
	}
	if !pushHealth() {
		return errTooSlow
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			return err
		case <-health.C:
			if !pushHealth() {
				return errTooSlow
			}
		case ev := <-events:
			for _, m := range legacyMessages(ev) {
				if !send(m) {
					return errTooSlow
				}
			}
		}
	}
}

// legacyMessages maps one watch event to the old feed's messages.
func legacyMessages(ev *musterv1.WatchResponse) []legacyMessage {
	aggregate := func(a *musterv1.Aggregate) []legacyMessage {
		return []legacyMessage{
			{"extraction_status", a.GetExtractionStatus()},
			{"circuit_breaker_status", breakerMap(a.GetCircuitBreakers())},
			{"performance_metrics", a.GetPerformanceMetrics()},
		}
	}
	switch e := ev.GetEvent().(type) {
	case *musterv1.WatchResponse_Snapshot:
		msgs := aggregate(e.Snapshot.GetAggregate())
		for _, w := range e.Snapshot.GetWorkers() {
			msgs = append(msgs, legacyMessage{"worker_extraction_status", w})
		}
		return msgs
	case *musterv1.WatchResponse_Aggregate:
		return aggregate(e.Aggregate)
	case *musterv1.WatchResponse_WorkerChanged:
		return []legacyMessage{{"worker_extraction_status", e.WorkerChanged}}
	case *musterv1.WatchResponse_Error:
		return []legacyMessage{{"error_alert", e.Error}}
	case *musterv1.WatchResponse_Log:
		return []legacyMessage{{"live_log", e.Log}}
	case *musterv1.WatchResponse_Completion:
		return []legacyMessage{{"extraction_complete", e.Completion}}
	default:
		return nil
	}
}

func breakerMap(m map[string]*musterv1.BreakerAggregate) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = proto.Message(v)
	}
	return out
}

func (h *wsHandler) writeLoop(ctx context.Context, conn *websocket.Conn, out <-chan legacyMessage) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-out:
			data, err := m.marshal()
			if err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			err = conn.Write(wctx, websocket.MessageText, data)
			cancel()
			if err != nil {
				return err
			}
		}
	}
}
