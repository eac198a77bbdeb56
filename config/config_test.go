package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "facegate.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestExampleFileMatchesDefaults(t *testing.T) {
	t.Setenv("FACEGATE_MODELS", "")
	c, err := Load("../facegate.example.toml")
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	d := Default()
	c.File = ""
	if !reflect.DeepEqual(c, d) {
		t.Errorf("facegate.example.toml documents other values than Default():\nexample  %+v\ndefaults %+v", c, d)
	}
}

func TestLoadOverridesAndKeepsDefaults(t *testing.T) {
	c, err := Load(write(t, "device_id = \"front\"\n[door]\nunlock_seconds = 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID != "front" || c.Door.UnlockSeconds != 7 || c.Door.RelayPin != "GPIO17" || c.TopicPrefix() != "facegate/front" {
		t.Errorf("loaded %+v", c)
	}
}

func TestTypoKeyNamesFileAndKey(t *testing.T) {
	p := write(t, "[door]\nunlock_secnds = 7\n")
	_, err := Load(p)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{p, "door.unlock_secnds", "line 2", "unknown key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	cases := map[string]string{
		"[recognition]\nthreshold = 1.5\n":          "recognition.threshold",
		"[door]\ngpio = \"sysfs\"\n":                "door.gpio",
		"[camera]\nsource = \"webcam\"\n":           "camera.source",
		"[mqtt]\nkeepalive_seconds = 70000\n":       "mqtt.keepalive_seconds",
		"[mqtt]\ncommand_key = \"zz\"\n":            "mqtt.command_key",
		"[mqtt]\nbroker = \"http://x\"\n":           "mqtt.broker",
		"[access]\nrequired_frames = 9\n":           "access.required_frames",
		"device_id = \"a/b\"\n":                     "device_id",
		"[web]\nlisten = \"8080\"\n":                "web.listen",
		"[door]\nunlock_seconds = \"five\"\n":       "door.unlock_seconds",
		"[mqtt]\nca_file = \"/nonexistent/ca.pem\"": "mqtt.ca_file",
	}
	for body, key := range cases {
		p := write(t, body)
		_, err := Load(p)
		if err == nil {
			t.Errorf("%q accepted", body)
			continue
		}
		if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: error %q does not name key %s and file", body, err, key)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("err = %v", err)
	}
}

// floatKeys lists the TOML path of every float key of the configuration.
func floatKeys(prefix string, t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch f := t.Field(i).Type; f.Kind() {
		case reflect.Struct:
			out = append(out, floatKeys(prefix+name+".", f)...)
		case reflect.Float64, reflect.Float32:
			out = append(out, prefix+name)
		}
	}
	return out
}

// TestNonFiniteFloatsRefused: nan passes every range check, so
// recognition.threshold = nan turned recognition off and camera.fps = nan
// spun a core. Every float key refuses nan and infinities, naming the file
// and the key.
func TestNonFiniteFloatsRefused(t *testing.T) {
	keys := floatKeys("", reflect.TypeOf(Config{}))
	if len(keys) < 10 {
		t.Fatalf("found only %d float keys: %v", len(keys), keys)
	}
	for _, key := range keys {
		for _, v := range []string{"nan", "inf", "-inf", "+nan"} {
			section, name, ok := strings.Cut(key, ".")
			body := key + " = " + v + "\n"
			if ok {
				body = "[" + section + "]\n" + name + " = " + v + "\n"
			}
			p := write(t, body)
			_, err := Load(p)
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%s = %s: err = %v, want a config error", key, v, err)
				continue
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "key "+key+":") {
				t.Errorf("%s = %s: error %q does not name the file and the key", key, v, err)
			}
		}
	}
}

func TestSiteKeysNameFileAndKey(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "not-a-key.pem")
	if err := os.WriteFile(notKey, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"[site]\nname = \"hq\"\n":                                                                                 "site.public_key_file",
		"[site]\npublic_key_file = \"site.pub\"\n":                                                                "site.name",
		"[site]\nname = \"a/b\"\npublic_key_file = \"x\"\n":                                                       "site.name",
		"[site]\nname = \"hq\"\npublic_key_file = \"/nonexistent/site.pub\"\n":                                    "site.public_key_file",
		"[site]\nname = \"hq\"\npublic_key_file = " + strconv.Quote(notKey) + "\n":                                "site.public_key_file",
		"[mqtt]\nbroker = \"\"\n[site]\nname = \"hq\"\npublic_key_file = \"x\"\n":                                 "site.name",
		"[mqtt]\nprofile = \"thingsboard\"\nusername = \"tok\"\n[site]\nname = \"hq\"\npublic_key_file = \"x\"\n": "site.name",
	}
	for body, key := range cases {
		p := write(t, body)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: error %v does not name key %s and file %s", body, err, key, p)
		}
	}
}

func TestProfileKeysNameFileAndKey(t *testing.T) {
	cases := map[string]string{
		"[mqtt]\nprofile = \"azure\"\n": "mqtt.profile",
		"[mqtt]\nprofile = \"huaweicloud-iotda\"\npassword = \"s\"\nkeepalive_seconds = 20\n":                          "mqtt.keepalive_seconds",
		"[mqtt]\nprofile = \"huaweicloud-iotda\"\npassword = \"s\"\nkeepalive_seconds = 1800\n":                        "mqtt.keepalive_seconds",
		"[mqtt]\nprofile = \"huaweicloud-iotda\"\nkeepalive_seconds = 120\n":                                           "mqtt.password",
		"device_id = \"door.1\"\n[mqtt]\nprofile = \"huaweicloud-iotda\"\npassword = \"s\"\nkeepalive_seconds = 120\n": "device_id",
		"[mqtt]\nprofile = \"huaweicloud-iotda\"\npassword = \"s\"\nkeepalive_seconds = 120\nhomeassistant = true\n":   "mqtt.homeassistant",
		"[mqtt]\nprofile = \"thingsboard\"\n":                                                                          "mqtt.username",
		"[mqtt]\nprofile = \"aws-iot\"\nbroker = \"tcp://x.iot.eu-west-1.amazonaws.com:1883\"\n":                       "mqtt.broker",
		"[mqtt]\nprofile = \"aws-iot\"\nbroker = \"ssl://x.iot.eu-west-1.amazonaws.com:8883\"\n":                       "mqtt.cert_file",
		"device_id = \"d\"\n[mqtt]\nprofile = \"aws-iot\"\ntopic_prefix = \"a/b/c/d/e\"\nbroker = \"ssl://x:8883\"\n":  "mqtt.topic_prefix",
	}
	for body, key := range cases {
		p := write(t, body)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: error %v does not name key %s and file %s", body, err, key, p)
		}
	}
	p := write(t, "device_id = \"660a_door-1\"\n[mqtt]\nprofile = \"huaweicloud-iotda\"\npassword = \"s\"\nkeepalive_seconds = 120\n")
	if _, err := Load(p); err != nil {
		t.Fatalf("a valid IoTDA configuration is refused: %v", err)
	}
}
