// Package testenv provides what facegate's tests share: the location of the
// shared models and labelled faces beside the project checkout, and a real
// mosquitto broker started on a free loopback port.
//
// It is imported only from _test.go files.
package testenv
