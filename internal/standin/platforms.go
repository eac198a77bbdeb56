package standin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// The rules below follow each platform's published documentation; they are
// written independently of package platform (the code under test).

// IoTDA is Huawei Cloud IoTDA's MQTT device access for one device: client
// id {device_id}_0_{0|1}_{YYYYMMDDHH} whose hour is the current one (by
// clock) for signature type 1, user name the device id, password
// hex(HMAC-SHA256(key = YYYYMMDDHH, message = secret)); keep-alive 30..1200
// s; no will, no retained messages; only the device's own $oc/devices/{id}/sys
// topics; at most 50 upstream messages per second.
func IoTDA(deviceID, secret string, clock func() time.Time) Rules {
	idRE := regexp.MustCompile(`^` + regexp.QuoteMeta(deviceID) + `_0_([01])_(\d{10})$`)
	base := `^\$oc/devices/` + regexp.QuoteMeta(deviceID) + `/sys/`
	return Rules{
		Name: "huaweicloud-iotda",
		Auth: func(clientID, username, password string) error {
			m := idRE.FindStringSubmatch(clientID)
			if m == nil {
				return fmt.Errorf("client id %q is not %s_0_{0|1}_{YYYYMMDDHH}", clientID, deviceID)
			}
			if username != deviceID {
				return fmt.Errorf("user name %q is not the device id %s", username, deviceID)
			}
			ts := m[2]
			if now := clock().UTC().Format("2006010215"); m[1] == "1" && ts != now {
				return fmt.Errorf("client id timestamp %s is not the current hour %s", ts, now)
			}
			mac := hmac.New(sha256.New, []byte(ts))
			mac.Write([]byte(secret))
			if want := hex.EncodeToString(mac.Sum(nil)); password != want {
				return fmt.Errorf("password is not HMAC-SHA256(%s, secret)", ts)
			}
			return nil
		},
		KeepAliveMin: 30, KeepAliveMax: 1200, NoWill: true, NoRetain: true, MaxQoS: 1,
		Publish: []*regexp.Regexp{
			regexp.MustCompile(base + `properties/report$`),
			regexp.MustCompile(base + `messages/up$`),
			regexp.MustCompile(base + `events/up$`),
			regexp.MustCompile(base + `commands/response/request_id=[^/]+$`),
		},
		Subscribe: []*regexp.Regexp{
			regexp.MustCompile(base + `commands/#$`),
			regexp.MustCompile(base + `messages/down$`),
		},
		RatePerSecond: 50,
	}
}

// ThingsBoard is ThingsBoard's device MQTT API: the access token as user
// name (no password needed), no will, v1/devices/me topics only.
func ThingsBoard(token string) Rules {
	return Rules{
		Name: "thingsboard",
		Auth: func(_, username, _ string) error {
			if username != token {
				return fmt.Errorf("user name is not the device's access token")
			}
			return nil
		},
		NoWill: true, MaxQoS: 1,
		Publish: []*regexp.Regexp{
			regexp.MustCompile(`^v1/devices/me/telemetry$`),
			regexp.MustCompile(`^v1/devices/me/attributes$`),
			regexp.MustCompile(`^v1/devices/me/rpc/response/\d+$`),
		},
		Subscribe: []*regexp.Regexp{
			regexp.MustCompile(`^v1/devices/me/rpc/request/\+$`),
			regexp.MustCompile(`^v1/devices/me/attributes(/response/\+)?$`),
		},
	}
}

// AWSIoT is AWS IoT Core's device endpoint: TLS with a verified client
// certificate (tc must require one), keep-alive 30..1200 s, QoS 0/1, at most
// 7 slashes in a topic, no topics starting with $ but the reserved ones,
// 100 publishes per second per connection.
func AWSIoT(tc *tls.Config) Rules {
	return Rules{
		Name: "aws-iot", TLS: tc, KeepAliveMin: 30, KeepAliveMax: 1200, MaxQoS: 1, MaxTopicLevels: 8,
		Publish:       []*regexp.Regexp{regexp.MustCompile(`^[^$]`)},
		Subscribe:     []*regexp.Regexp{regexp.MustCompile(`^[^$]`)},
		RatePerSecond: 100,
	}
}
