// Package platform describes the IoT platforms facegate's MQTT link talks to
// (mqtt.profile): per platform, as data, the topic layout, how the client id,
// user name and password are derived (recomputed at every connect), the
// keep-alive range, whether retained messages and a will are allowed, the
// highest QoS, the upstream rate and in-flight limits, the topic depth and
// whether the device may subscribe to its own upstream topics (delivery
// confirmed by echo, mqttlink).
//
// Profiles: generic (a plain broker, the default), huaweicloud-iotda,
// aws-iot and thingsboard. The package needs nothing but the standard
// library, so config validates keys against it and mqttlink follows it.
package platform
