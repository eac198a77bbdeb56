package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/facegate/facegate/camera/source"
	"github.com/facegate/facegate/platform"
)

// Config is the whole configuration of one appliance.
type Config struct {
	DeviceID  string `toml:"device_id"`
	DataDir   string `toml:"data_dir"`
	ModelsDir string `toml:"models_dir"`
	LogLevel  string `toml:"log_level"`  // debug, info, warn, error
	LogFormat string `toml:"log_format"` // auto, text, json
	Demo      bool   `toml:"demo"`       // demo mode: simulated door controls on the web page, demo enrolment

	Camera      Camera      `toml:"camera"`
	Recognition Recognition `toml:"recognition"`
	Liveness    Liveness    `toml:"liveness"`
	Access      Access      `toml:"access"`
	Door        Door        `toml:"door"`
	MQTT        MQTT        `toml:"mqtt"`
	Web         Web         `toml:"web"`
	Site        Site        `toml:"site"`

	// File is the path the configuration was read from (empty for defaults).
	File string `toml:"-"`
}

// Camera configures the frame source.
type Camera struct {
	Source           string  `toml:"source"` // dir:PATH, file:PATH, v4l2:N, gst:PIPELINE, mjpeg:-, cmd:COMMAND
	FPS              float64 `toml:"fps"`
	Loop             bool    `toml:"loop"`
	Width            int     `toml:"width"`              // requested capture size (v4l2), 0 = driver default
	Height           int     `toml:"height"`             //
	StallSeconds     float64 `toml:"stall_seconds"`      // no frame for this long = camera lost
	ReopenMaxSeconds float64 `toml:"reopen_max_seconds"` // cap of the reopen back-off
	// The motion gate (package motion): a static scene skips face detection,
	// which still runs at least every DetectEverySeconds and at once when at
	// least MotionThreshold of an 80x60 grey copy changed.
	MotionGate         bool    `toml:"motion_gate"`
	MotionThreshold    float64 `toml:"motion_threshold"`
	DetectEverySeconds float64 `toml:"detect_every_seconds"`
}

// Recognition configures detection, quality gates and matching.
type Recognition struct {
	Model         string  `toml:"model"`           // fr512 or sface
	Threshold     float64 `toml:"threshold"`       // cosine similarity needed to match
	Margin        float64 `toml:"margin"`          // best must beat the second-best identity by this much
	DetectScore   float64 `toml:"detect_score"`    // YuNet score threshold
	DetectMaxSide int     `toml:"detect_max_side"` // detection runs on a copy whose long side is at most this
	// Two-stage detection: candidates on a copy of at most CandidateMaxSide
	// px (0 = one stage at DetectMaxSide) scoring >= CandidateScore, each
	// confirmed at DetectScore on a crop of the full frame around it, scaled
	// to at most ConfirmMaxSide px.
	CandidateMaxSide int     `toml:"candidate_max_side"`
	CandidateScore   float64 `toml:"candidate_score"`
	ConfirmMaxSide   int     `toml:"confirm_max_side"`
	MinFacePixels    int     `toml:"min_face_pixels"` // smallest face box side accepted
	MinSharpness     float64 `toml:"min_sharpness"`   // variance of Laplacian of the aligned face
	MaxYawRatio      float64 `toml:"max_yaw_ratio"`   // landmark asymmetry allowed (0 = frontal, 1 = profile)
	DuplicateWarn    bool    `toml:"duplicate_warn"`  // warn at enrolment when a face matches another person
}

// Liveness configures the presentation attack check (printed photos, phone
// and screen replays) on the face recognition matched.
type Liveness struct {
	Enabled   bool    `toml:"enabled"`
	Model     string  `toml:"model"`     // liveness profile (LivenessModels)
	Threshold float64 `toml:"threshold"` // live probability needed (0..1)
	// MaxSpoofFrames is how many of the access.required_frames winning
	// frames may be judged attacks and still grant (0: every one must be live).
	MaxSpoofFrames int `toml:"max_spoof_frames"`
}

// LivenessModels are the liveness profiles vision knows (vision.LivenessProfileIDs).
var LivenessModels = []string{"face-antispoof", "fr-liveness", "minifasnet-v1se", "minifasnet-v2", "silent-face"}

// Access configures the multi-frame decision logic and the entry log.
type Access struct {
	WindowFrames         int     `toml:"window_frames"`          // N: frames considered
	RequiredFrames       int     `toml:"required_frames"`        // K: wins needed among the last N
	CooldownSeconds      float64 `toml:"cooldown_seconds"`       // one person does not re-trigger within this
	StrangerFrames       int     `toml:"stranger_frames"`        // frames of an unknown face before the alarm
	StrangerAlarmSeconds float64 `toml:"stranger_alarm_seconds"` // at most one unknown_face alarm per this period
	SnapshotMaxAgeDays   float64 `toml:"snapshot_max_age_days"`  // snapshots older than this are removed
	SnapshotMaxMB        float64 `toml:"snapshot_max_mb"`        // total size cap, oldest removed first
	StorageLowMB         float64 `toml:"storage_low_mb"`         // free space under this raises storage_low
	AuditMaxAgeDays      float64 `toml:"audit_max_age_days"`     // audit log entries and used nonces older than this are removed
	// Face tracking (package track): decisions per track, a decided track
	// embedded again only every TrackRefreshFrames frames (or for a clearly
	// better view), matched on the mean of its TrackFuse best embeddings.
	Tracking           bool `toml:"tracking"`
	TrackRefreshFrames int  `toml:"track_refresh_frames"`
	TrackFuse          int  `toml:"track_fuse"`
}

// Door configures the relay and the optional inputs.
type Door struct {
	GPIO            string  `toml:"gpio"` // sim or periph
	RelayPin        string  `toml:"relay_pin"`
	RelayActiveLow  bool    `toml:"relay_active_low"`
	UnlockSeconds   float64 `toml:"unlock_seconds"`
	ContactPin      string  `toml:"contact_pin"`
	ContactOpenHigh bool    `toml:"contact_open_high"` // input level that means "door open"
	ExitPin         string  `toml:"exit_pin"`
	ExitActiveLow   bool    `toml:"exit_active_low"` // button pulls the input low when pressed
	HeldOpenSeconds float64 `toml:"held_open_seconds"`
	DebounceMS      int     `toml:"debounce_ms"`
}

// MQTT configures the link to the IoT platform.
type MQTT struct {
	Broker                     string  `toml:"broker"`  // empty = no MQTT link
	Profile                    string  `toml:"profile"` // IoT platform (platform.Names): topics, credentials, limits
	ClientID                   string  `toml:"client_id"`
	Username                   string  `toml:"username"`
	Password                   string  `toml:"password"`
	CAFile                     string  `toml:"ca_file"`
	CertFile                   string  `toml:"cert_file"`
	KeyFile                    string  `toml:"key_file"`
	InsecureSkipVerify         bool    `toml:"insecure_skip_verify"`
	KeepaliveSeconds           int     `toml:"keepalive_seconds"`
	PingTimeoutSeconds         int     `toml:"ping_timeout_seconds"`
	WriteTimeoutSeconds        int     `toml:"write_timeout_seconds"`
	MaxReconnectSeconds        int     `toml:"max_reconnect_seconds"`
	TopicPrefix                string  `toml:"topic_prefix"`
	CommandKey                 string  `toml:"command_key"`
	HomeAssistant              bool    `toml:"homeassistant"`
	AllowUnsignedHomeAssistant bool    `toml:"allow_unsigned_homeassistant"`
	OutboxMaxRows              int     `toml:"outbox_max_rows"`
	OutboxMaxAgeHours          float64 `toml:"outbox_max_age_hours"`
	ConfirmDelivery            bool    `toml:"confirm_delivery"`     // subscribe to the own events/alarms: delivered = seen back
	EchoTimeoutSeconds         int     `toml:"echo_timeout_seconds"` // acknowledged but not seen back this long = delivery_unconfirmed
}

// Web configures the local web page.
type Web struct {
	Listen        string  `toml:"listen"`
	SessionHours  float64 `toml:"session_hours"`
	MaxUploadMB   float64 `toml:"max_upload_mb"`
	SecureCookies bool    `toml:"secure_cookies"` // set the Secure flag (behind HTTPS)
	CertFile      string  `toml:"cert_file"`      // PEM certificate (chain); empty = self-signed under data_dir when needed
	KeyFile       string  `toml:"key_file"`       // PEM private key of cert_file
	PlainHTTP     bool    `toml:"plain_http"`     // serve plain HTTP even beyond loopback (behind a TLS proxy)
}

// Site joins the door to a site whose people are managed centrally and
// replicated through the broker (package site). An empty name is a
// standalone door.
type Site struct {
	Name          string `toml:"name"`            // one MQTT topic level; empty = standalone
	PublicKeyFile string `toml:"public_key_file"` // the site's Ed25519 public key (PEM), made by facegate site init
}

// Default returns the configuration used for every key the file does not set.
func Default() Config {
	models := os.Getenv("FACEGATE_MODELS")
	if models == "" {
		models = "../shared/models"
	}
	return Config{
		DeviceID:  "door-1",
		DataDir:   "./var",
		ModelsDir: models,
		LogLevel:  "info",
		LogFormat: "auto",
		Camera: Camera{
			Source: "v4l2:0", FPS: 10, Loop: true,
			StallSeconds: 5, ReopenMaxSeconds: 30,
			MotionGate: true, MotionThreshold: 0.005, DetectEverySeconds: 1,
		},
		Recognition: Recognition{
			Model: "fr512", Threshold: 0.48, Margin: 0.05,
			DetectScore: 0.9, DetectMaxSide: 640,
			CandidateMaxSide: 320, CandidateScore: 0.6, ConfirmMaxSide: 240,
			MinFacePixels: 64, MinSharpness: 50, MaxYawRatio: 0.5,
			DuplicateWarn: true,
		},
		Liveness: Liveness{Enabled: true, Model: "silent-face", Threshold: 0.5},
		Access: Access{
			WindowFrames: 5, RequiredFrames: 3, CooldownSeconds: 10,
			StrangerFrames: 3, StrangerAlarmSeconds: 60,
			SnapshotMaxAgeDays: 90, SnapshotMaxMB: 1024, StorageLowMB: 200, AuditMaxAgeDays: 365,
			Tracking: false, TrackRefreshFrames: 10, TrackFuse: 3,
		},
		Door: Door{
			GPIO: "sim", RelayPin: "GPIO17", RelayActiveLow: true, UnlockSeconds: 5,
			ContactOpenHigh: true, ExitActiveLow: true,
			HeldOpenSeconds: 30, DebounceMS: 50,
		},
		MQTT: MQTT{
			Broker: "tcp://127.0.0.1:1883", Profile: platform.Generic, KeepaliveSeconds: 60, PingTimeoutSeconds: 10,
			WriteTimeoutSeconds: 10, MaxReconnectSeconds: 30, TopicPrefix: "facegate",
			OutboxMaxRows: 100000, OutboxMaxAgeHours: 24 * 7,
			ConfirmDelivery: true, EchoTimeoutSeconds: 30,
		},
		Web: Web{Listen: "127.0.0.1:8080", SessionHours: 12, MaxUploadMB: 10},
	}
}

// ErrConfig is wrapped by every validation error.
var ErrConfig = errors.New("config")

// Load reads path over the defaults and validates the result. Relative
// data_dir, models_dir and dir:/file: camera paths stay relative to the
// working directory, as a user typing them at a shell expects.
func Load(path string) (Config, error) {
	cfg := Default()
	cfg.File = path
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			keys := make([]string, 0, len(sm.Errors))
			for _, e := range sm.Errors {
				row, _ := e.Position()
				keys = append(keys, fmt.Sprintf("%q (line %d)", strings.Join(e.Key(), "."), row))
			}
			return cfg, fmt.Errorf("%w: %s: unknown key %s", ErrConfig, path, strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return cfg, fmt.Errorf("%w: %s: line %d: key %q: %s", ErrConfig, path, row, strings.Join(de.Key(), "."), de.Error())
		}
		return cfg, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

type checker struct {
	file string
	errs []error
}

func (c *checker) fail(key, format string, args ...any) {
	file := c.file
	if file == "" {
		file = "(defaults)"
	}
	c.errs = append(c.errs, fmt.Errorf("%w: %s: key %s: %s", ErrConfig, file, key, fmt.Sprintf(format, args...)))
}

func (c *checker) rangeF(key string, v, lo, hi float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return // reported by finite, for every float key
	}
	if v < lo || v > hi {
		c.fail(key, "%v is out of range %v..%v", v, lo, hi)
	}
}

func (c *checker) rangeI(key string, v, lo, hi int) {
	if v < lo || v > hi {
		c.fail(key, "%d is out of range %d..%d", v, lo, hi)
	}
}

// finite refuses NaN and infinities in every float key of v (a struct),
// named by its TOML path: a NaN passes every range check, so
// recognition.threshold = nan would silently turn matching off.
func (c *checker) finite(prefix string, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		switch f := v.Field(i); f.Kind() {
		case reflect.Struct:
			c.finite(key+".", f)
		case reflect.Float32, reflect.Float64:
			if x := f.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
				c.fail(key, "%v is not a finite number", x)
			}
		}
	}
}

// profile checks the [mqtt] keys against what mqtt.profile's platform
// accepts (package platform): keep-alive range, credentials, TLS, topic depth.
func (c *checker) profile(cfg *Config) {
	m := cfg.MQTT
	p, err := platform.Lookup(m.Profile)
	if err != nil {
		c.fail("mqtt.profile", "%q is not one of %s", m.Profile, strings.Join(platform.Names, ", "))
		return
	}
	if err := p.CheckKeepAlive(m.KeepaliveSeconds); err != nil {
		c.fail("mqtt.keepalive_seconds", "%v", err)
	}
	if p.NeedsTLS && m.Broker != "" {
		if u, err := url.Parse(m.Broker); err == nil && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtts" && u.Scheme != "wss" {
			c.fail("mqtt.broker", "profile %s needs TLS: use ssl://<endpoint>:8883", p.Name)
		}
	}
	if p.NeedsClientCert && (m.CertFile == "" || m.KeyFile == "") {
		c.fail("mqtt.cert_file", "profile %s authenticates the device by its client certificate: set mqtt.cert_file and mqtt.key_file", p.Name)
	}
	switch p.Name {
	case platform.HuaweiIoTDA:
		if m.Password == "" {
			c.fail("mqtt.password", "profile %s needs the device secret (the password is derived from it every hour)", p.Name)
		}
		if strings.ContainsFunc(cfg.DeviceID, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) {
			c.fail("device_id", "%q: profile %s needs the device id IoTDA registered ([A-Za-z0-9_-])", cfg.DeviceID, p.Name)
		}
	case platform.ThingsBoard:
		if m.Username == "" {
			c.fail("mqtt.username", "profile %s needs the device's access token as the user name", p.Name)
		}
	}
	if !p.Retain && m.HomeAssistant {
		c.fail("mqtt.homeassistant", "profile %s refuses retained messages, which Home Assistant discovery needs", p.Name)
	}
	if err := p.CheckDepth(p.Topics(cfg.TopicPrefix(), cfg.DeviceID).All(cfg.TopicPrefix() + "/cmd/status/reply")); err != nil {
		c.fail("mqtt.topic_prefix", "%v", err)
	}
}

// Validate checks every value and names the first bad keys.
func (cfg *Config) Validate() error {
	c := &checker{file: cfg.File}
	c.finite("", reflect.ValueOf(*cfg))
	if cfg.DeviceID == "" || strings.ContainsAny(cfg.DeviceID, "/#+ ") {
		c.fail("device_id", "%q must be non-empty and contain no '/', '#', '+' or spaces", cfg.DeviceID)
	}
	if cfg.DataDir == "" {
		c.fail("data_dir", "must not be empty")
	}
	if cfg.ModelsDir == "" {
		c.fail("models_dir", "must not be empty")
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		c.fail("log_level", "%q is not one of debug, info, warn, error", cfg.LogLevel)
	}
	switch cfg.LogFormat {
	case "auto", "text", "json":
	default:
		c.fail("log_format", "%q is not one of auto, text, json", cfg.LogFormat)
	}

	cam := cfg.Camera
	if _, err := source.Parse(cam.Source); err != nil {
		c.fail("camera.source", "%s", strings.TrimPrefix(err.Error(), source.ErrSpec.Error()+": "))
	}
	c.rangeF("camera.fps", cam.FPS, 0.1, 120)
	c.rangeI("camera.width", cam.Width, 0, 8192)
	c.rangeI("camera.height", cam.Height, 0, 8192)
	c.rangeF("camera.stall_seconds", cam.StallSeconds, 0.5, 3600)
	c.rangeF("camera.reopen_max_seconds", cam.ReopenMaxSeconds, 0.1, 3600)
	c.rangeF("camera.motion_threshold", cam.MotionThreshold, 0.0001, 1)
	c.rangeF("camera.detect_every_seconds", cam.DetectEverySeconds, 0.05, 60)

	r := cfg.Recognition
	if r.Model != "fr512" && r.Model != "sface" {
		c.fail("recognition.model", "%q is not one of fr512, sface", r.Model)
	}
	c.rangeF("recognition.threshold", r.Threshold, 0.05, 0.99)
	c.rangeF("recognition.margin", r.Margin, 0, 1)
	c.rangeF("recognition.detect_score", r.DetectScore, 0.1, 1)
	c.rangeI("recognition.detect_max_side", r.DetectMaxSide, 64, 4096)
	if r.CandidateMaxSide != 0 {
		c.rangeI("recognition.candidate_max_side", r.CandidateMaxSide, 64, 4096)
		c.rangeF("recognition.candidate_score", r.CandidateScore, 0.1, 1)
		if r.CandidateScore > r.DetectScore {
			c.fail("recognition.candidate_score", "%g is above recognition.detect_score %g: candidates must not be stricter than their confirmation", r.CandidateScore, r.DetectScore)
		}
		c.rangeI("recognition.confirm_max_side", r.ConfirmMaxSide, 64, 4096)
	}
	c.rangeI("recognition.min_face_pixels", r.MinFacePixels, 8, 4096)
	c.rangeF("recognition.min_sharpness", r.MinSharpness, 0, 10000)
	c.rangeF("recognition.max_yaw_ratio", r.MaxYawRatio, 0, 1)

	lv := cfg.Liveness
	if !slices.Contains(LivenessModels, lv.Model) {
		c.fail("liveness.model", "%q is not one of %s", lv.Model, strings.Join(LivenessModels, ", "))
	}
	c.rangeF("liveness.threshold", lv.Threshold, 0.01, 0.999)
	if lv.MaxSpoofFrames < 0 || lv.MaxSpoofFrames >= cfg.Access.RequiredFrames {
		c.fail("liveness.max_spoof_frames", "%d must be at least 0 and less than access.required_frames (%d)", lv.MaxSpoofFrames, cfg.Access.RequiredFrames)
	}

	a := cfg.Access
	c.rangeI("access.window_frames", a.WindowFrames, 1, 100)
	c.rangeI("access.required_frames", a.RequiredFrames, 1, 100)
	if a.RequiredFrames > a.WindowFrames {
		c.fail("access.required_frames", "%d is more than access.window_frames (%d)", a.RequiredFrames, a.WindowFrames)
	}
	c.rangeF("access.cooldown_seconds", a.CooldownSeconds, 0, 3600)
	c.rangeI("access.stranger_frames", a.StrangerFrames, 1, 100)
	c.rangeI("access.track_refresh_frames", a.TrackRefreshFrames, 1, 1000)
	c.rangeI("access.track_fuse", a.TrackFuse, 1, 100)
	c.rangeF("access.stranger_alarm_seconds", a.StrangerAlarmSeconds, 0, 86400)
	c.rangeF("access.snapshot_max_age_days", a.SnapshotMaxAgeDays, 0.001, 3650)
	c.rangeF("access.snapshot_max_mb", a.SnapshotMaxMB, 1, 1<<20)
	c.rangeF("access.storage_low_mb", a.StorageLowMB, 0, 1<<20)
	c.rangeF("access.audit_max_age_days", a.AuditMaxAgeDays, 1, 36500)

	d := cfg.Door
	if d.GPIO != "sim" && d.GPIO != "periph" {
		c.fail("door.gpio", "%q is not one of sim, periph", d.GPIO)
	}
	if d.RelayPin == "" {
		c.fail("door.relay_pin", "must name a pin, e.g. \"GPIO17\"")
	}
	if d.ContactPin != "" && (d.ContactPin == d.RelayPin || d.ContactPin == d.ExitPin) {
		c.fail("door.contact_pin", "%q is already used by another door pin", d.ContactPin)
	}
	if d.ExitPin != "" && d.ExitPin == d.RelayPin {
		c.fail("door.exit_pin", "%q is already used by door.relay_pin", d.ExitPin)
	}
	if cfg.Demo && d.GPIO != "sim" {
		c.fail("demo", "demo mode drives simulated pins and needs door.gpio = \"sim\"")
	}
	c.rangeF("door.unlock_seconds", d.UnlockSeconds, 0.5, 60)
	c.rangeF("door.held_open_seconds", d.HeldOpenSeconds, 1, 86400)
	c.rangeI("door.debounce_ms", d.DebounceMS, 0, 5000)

	m := cfg.MQTT
	if m.Broker != "" {
		u, err := url.Parse(m.Broker)
		switch {
		case err != nil:
			c.fail("mqtt.broker", "%q is not a URL: %v", m.Broker, err)
		case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts" && u.Scheme != "ws" && u.Scheme != "wss":
			c.fail("mqtt.broker", "scheme %q is not one of tcp, ssl, tls, mqtt, mqtts, ws, wss", u.Scheme)
		case u.Host == "":
			c.fail("mqtt.broker", "%q has no host", m.Broker)
		}
	}
	c.rangeI("mqtt.keepalive_seconds", m.KeepaliveSeconds, 0, 65535)
	c.rangeI("mqtt.ping_timeout_seconds", m.PingTimeoutSeconds, 1, 600)
	c.rangeI("mqtt.write_timeout_seconds", m.WriteTimeoutSeconds, 1, 600)
	c.rangeI("mqtt.max_reconnect_seconds", m.MaxReconnectSeconds, 1, 3600)
	if m.TopicPrefix == "" || strings.ContainsAny(m.TopicPrefix, "#+") {
		c.fail("mqtt.topic_prefix", "%q must be non-empty without wildcards", m.TopicPrefix)
	}
	if m.CommandKey != "" {
		k, err := hex.DecodeString(m.CommandKey)
		if err != nil {
			c.fail("mqtt.command_key", "is not hex: %v", err)
		} else if len(k) < 16 {
			c.fail("mqtt.command_key", "is %d bytes; use at least 16 random bytes (32 hex digits)", len(k))
		}
	}
	if m.AllowUnsignedHomeAssistant && !m.HomeAssistant {
		c.fail("mqtt.allow_unsigned_homeassistant", "needs mqtt.homeassistant = true")
	}
	for key, f := range map[string]string{"mqtt.ca_file": m.CAFile, "mqtt.cert_file": m.CertFile, "mqtt.key_file": m.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				c.fail(key, "%v", err)
			}
		}
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		c.fail("mqtt.cert_file", "mqtt.cert_file and mqtt.key_file go together")
	}
	c.rangeI("mqtt.outbox_max_rows", m.OutboxMaxRows, 10, 100_000_000)
	c.rangeF("mqtt.outbox_max_age_hours", m.OutboxMaxAgeHours, 0.01, 24*3650)
	c.rangeI("mqtt.echo_timeout_seconds", m.EchoTimeoutSeconds, 1, 3600)
	c.profile(cfg)

	w := cfg.Web
	if w.Listen != "" {
		if _, _, err := net.SplitHostPort(w.Listen); err != nil {
			c.fail("web.listen", "%q is not HOST:PORT: %v", w.Listen, err)
		}
	}
	if (w.CertFile == "") != (w.KeyFile == "") {
		c.fail("web.cert_file", "web.cert_file and web.key_file go together")
	}
	for key, f := range map[string]string{"web.cert_file": w.CertFile, "web.key_file": w.KeyFile} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				c.fail(key, "%v", err)
			}
		}
	}
	if w.PlainHTTP && w.CertFile != "" {
		c.fail("web.plain_http", "contradicts web.cert_file: either serve HTTPS with that certificate or plain HTTP")
	}
	c.rangeF("web.session_hours", w.SessionHours, 0.01, 24*365)
	c.rangeF("web.max_upload_mb", w.MaxUploadMB, 0.1, 1024)

	st := cfg.Site
	switch {
	case st.Name == "" && st.PublicKeyFile != "":
		c.fail("site.name", "is empty but site.public_key_file is set; name the site or remove the key")
	case st.Name == "":
	case len(st.Name) > 64 || strings.ContainsAny(st.Name, "/#+ \x00"):
		c.fail("site.name", "%q must be at most 64 characters without '/', '#', '+' or spaces", st.Name)
	case st.PublicKeyFile == "":
		c.fail("site.public_key_file", "must name the site's public key (facegate site init makes it)")
	case m.Broker == "":
		c.fail("site.name", "a site door needs mqtt.broker: the site library arrives through the broker")
	case !siteProfileOK(m.Profile):
		c.fail("site.name", "mqtt.profile %s keeps no retained messages, which carry the site library; use a broker with profile generic or aws-iot", m.Profile)
	default:
		if _, err := LoadSitePublicKey(st.PublicKeyFile); err != nil {
			c.fail("site.public_key_file", "%v", err)
		}
	}

	return errors.Join(c.errs...)
}

// siteProfileOK reports whether the platform of profile keeps retained
// messages (an unknown profile is reported under mqtt.profile instead).
func siteProfileOK(profile string) bool {
	p, err := platform.Lookup(profile)
	return err != nil || p.Retain
}

// LoadSitePublicKey reads a site public key: a PEM "PUBLIC KEY" block
// holding an Ed25519 key (what facegate site init writes).
func LoadSitePublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%s holds no PEM \"PUBLIC KEY\" block", path)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T key, not Ed25519", path, k)
	}
	return pub, nil
}

// DBPath is the SQLite file inside data_dir.
func (cfg *Config) DBPath() string { return filepath.Join(cfg.DataDir, "facegate.db") }

// SnapshotDir is where entry snapshots are written.
func (cfg *Config) SnapshotDir() string { return filepath.Join(cfg.DataDir, "snapshots") }

// TopicPrefix returns "<topic_prefix>/<device_id>", the P of the MQTT contract.
func (cfg *Config) TopicPrefix() string { return cfg.MQTT.TopicPrefix + "/" + cfg.DeviceID }
