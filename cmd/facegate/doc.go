// Command facegate is the face-recognition door access appliance: the daemon
// (facegate run) and the operator's tools (enrol, people, events, door, cmd,
// passwd, eval, version). Each subcommand lives in its own file and registers
// itself with register.
package main
