package health

import (
	"sort"
	"sync"
	"time"
)

// Component is the health of one part of the appliance.
type Component struct {
	OK     bool      `json:"ok"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"` // when OK last changed
}

// Report is a snapshot of every component.
type Report struct {
	Status     string               `json:"status"` // "ok" or "degraded"
	Components map[string]Component `json:"components"`
}

// Tracker records component health. It is safe for concurrent use.
type Tracker struct {
	mu    sync.Mutex
	comps map[string]Component
	subs  []chan struct{}
	now   func() time.Time
}

// New returns an empty tracker.
func New() *Tracker {
	return &Tracker{comps: map[string]Component{}, now: time.Now}
}

// Set records the health of component. Detail may change without OK
// changing (e.g. frames per second); Since moves only when OK changes.
func (t *Tracker) Set(component string, ok bool, detail string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, seen := t.comps[component]
	changed := !seen || c.OK != ok
	if changed {
		c.Since = t.now().UTC()
	}
	c.OK, c.Detail = ok, detail
	t.comps[component] = c
	if changed {
		for _, s := range t.subs {
			select {
			case s <- struct{}{}:
			default:
			}
		}
	}
}

// Remove forgets a component (e.g. MQTT disabled).
func (t *Tracker) Remove(component string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.comps, component)
}

// Report returns the current health. Status is "ok" when every component is.
func (t *Tracker) Report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Report{Status: "ok", Components: make(map[string]Component, len(t.comps))}
	for n, c := range t.comps {
		r.Components[n] = c
		if !c.OK {
			r.Status = "degraded"
		}
	}
	return r
}

// Failing lists the components that are not OK, sorted.
func (r Report) Failing() []string {
	var out []string
	for n, c := range r.Components {
		if !c.OK {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Changed returns a channel signalled (capacity one) whenever a component's
// OK flag changes.
func (t *Tracker) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := make(chan struct{}, 1)
	t.subs = append(t.subs, c)
	return c
}
