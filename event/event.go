package event

import "time"

// Kinds: an event goes to P/events, an alarm to P/alarms (facedb.Record.Kind).
const (
	KindEvent = "event"
	KindAlarm = "alarm"
)

// TSFormat is the timestamp format of every event and alarm payload, the
// entry log's CSV and facegate events: RFC 3339 in UTC with milliseconds.
const TSFormat = "2006-01-02T15:04:05.000Z07:00"

// Sources say what caused an event or a relay action (facedb.Record.Source,
// the actor column of the audit log's relay entries).
const (
	SourceFace       = "face"        // the camera loop recognised someone (or a stranger)
	SourceExitButton = "exit_button" // the request-to-exit button
	SourceRemote     = "remote"      // a signed MQTT command
	SourceWeb        = "web"         // the local web page
	SourceDoor       = "door"        // the door contact
	SourceCamera     = "camera"      // the camera itself (camera_lost)
	SourceSystem     = "system"      // the appliance (storage, outbox, shutdown)
)

// The types, one line each: the name and the kinds it is recorded as, in
// the order the web filter and the Home Assistant entity list them. Add a
// type by adding a line here.
var (
	AccessGranted       = define("access_granted", KindEvent) // with person_id, name, score
	AccessDenied        = define("access_denied", KindEvent)  // known but disabled or outside validity; reason
	UnknownFace         = define("unknown_face", KindEvent, KindAlarm)
	RemoteUnlock        = define("remote_unlock", KindEvent)
	RemoteLock          = define("remote_lock", KindEvent)
	CommandRejected     = define("command_rejected", KindEvent) // with reason
	ExitButton          = define("exit_button", KindEvent)
	DoorOpened          = define("door_opened", KindEvent)
	DoorClosed          = define("door_closed", KindEvent)
	DoorForcedOpen      = define("door_forced_open", KindAlarm)
	DoorHeldOpen        = define("door_held_open", KindAlarm)
	CameraLost          = define("camera_lost", KindAlarm)
	StorageLow          = define("storage_low", KindAlarm)
	OutboxBacklog       = define("outbox_backlog", KindAlarm)
	OutboxBlocked       = define("outbox_blocked", KindAlarm)       // a row parked after repeated refusals: its seq
	DeliveryUnconfirmed = define("delivery_unconfirmed", KindAlarm) // rows acknowledged but never seen back
	SpoofDetected       = define("spoof_detected", KindAlarm)       // a face judged a presentation attack: person_id, name, score, liveness, frames
)

var byKind = map[string][]string{}

func define(name string, kinds ...string) string {
	for _, k := range kinds {
		byKind[k] = append(byKind[k], name)
	}
	return name
}

// Types returns the types recorded as kind (KindEvent or KindAlarm), in
// catalogue order. The slice is the caller's.
func Types(kind string) []string { return append([]string(nil), byKind[kind]...) }

// Stamp formats t as the payloads spell timestamps (TSFormat, in UTC).
func Stamp(t time.Time) string { return t.UTC().Format(TSFormat) }
