package dashboard

import (
	"encoding/json"
	"net/http"
	"time"
)

// events streams a running pipeline's counters and its devices' last readings, once a second
// (Server-Sent Events): the overview and pipeline pages update from it.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		http.Error(w, "too many live pages open", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev int64 = -1
	prevAt := time.Now()
	for {
		c := s.cfg.Live.Counters()
		ev := struct {
			Counters
			Rate     float64           `json:"rate"`
			LastSeen map[string]string `json:"last_seen"`
		}{Counters: c, LastSeen: map[string]string{}}
		if prev >= 0 {
			if d := time.Since(prevAt).Seconds(); d > 0 {
				ev.Rate = float64(c.Readings-prev) / d
			}
		}
		prev, prevAt = c.Readings, time.Now()
		for id, st := range s.cfg.Live.States() {
			if st.Alarm.HasLast {
				ev.LastSeen[id] = time.Unix(0, st.Alarm.Last).UTC().Format(time.RFC3339)
			}
		}
		b, _ := json.Marshal(ev)
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // beyond the server's WriteTimeout, for this stream only
		if _, err := w.Write([]byte("data: " + string(b) + "\n\n")); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
