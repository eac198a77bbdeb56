package access

import "time"

// TrackDecider applies a Policy per face track (package track): K of N and
// the stranger streak are counted on each track's own frames, so one
// person's grant is never completed by another person's frames and a
// stranger standing beside an enrolled person is judged on the stranger's
// own face. The cooldown per person and the stranger alarm's rate limit are
// the door's, shared by all tracks. Not safe for concurrent use.
type TrackDecider struct {
	p       Policy
	tracks  map[int]*Decider
	settled map[int]Verdict     // the verdict each track's own history reached
	last    map[int64]time.Time // last decision per person, over all tracks
	alarmAt time.Time
	alarmed bool
}

// NewTrackDecider returns a decider with no tracks.
func NewTrackDecider(p Policy) *TrackDecider {
	return &TrackDecider{p: NewDecider(p).Policy(), tracks: map[int]*Decider{}, settled: map[int]Verdict{}, last: map[int64]time.Time{}}
}

// Policy returns the policy in use.
func (d *TrackDecider) Policy() Policy { return d.p }

// Observe adds one frame of track id and returns the decision it triggers.
func (d *TrackDecider) Observe(id int, o Observation) (Decision, bool) {
	td := d.tracks[id]
	if td == nil {
		// The track's own history decides; the door-wide limits below
		// replace its per-decider cooldown and alarm period.
		p := d.p
		p.Cooldown, p.StrangerEvery = 0, 0
		td = NewDecider(p)
		d.tracks[id] = td
	}
	dec, ok := td.Observe(o)
	if !ok {
		return Decision{}, false
	}
	d.settled[id] = dec.Verdict
	if dec.Verdict == Stranger {
		if d.alarmed && o.Time.Sub(d.alarmAt) < d.p.StrangerEvery {
			return Decision{}, false
		}
		d.alarmed, d.alarmAt = true, o.Time
		return dec, true
	}
	if t, seen := d.last[dec.PersonID]; seen && o.Time.Sub(t) < d.p.Cooldown {
		return Decision{}, false
	}
	d.last[dec.PersonID] = o.Time
	for pid, t := range d.last {
		if o.Time.Sub(t) >= d.p.Cooldown {
			delete(d.last, pid)
		}
	}
	return dec, true
}

// Settled returns the verdict track id's own frames reached last, whether
// or not the door-wide cooldown or alarm period let it through.
func (d *TrackDecider) Settled(id int) (Verdict, bool) {
	v, ok := d.settled[id]
	return v, ok
}

// Reopen forgets track id's verdict (it now shows another face) so that
// its next frames decide again; its frames so far still count.
func (d *TrackDecider) Reopen(id int) { delete(d.settled, id) }

// Restart forgets track id's verdict and its frames: its decision has run
// out (the cooldown or alarm period passed) and it is decided afresh on new
// frames only, as a person who stays at the door would be.
func (d *TrackDecider) Restart(id int) {
	delete(d.tracks, id)
	delete(d.settled, id)
}

// End forgets a track that ended.
func (d *TrackDecider) End(id int) {
	delete(d.tracks, id)
	delete(d.settled, id)
}
