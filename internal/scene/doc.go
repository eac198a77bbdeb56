// Package scene builds synthetic but realistic camera sequences for the
// tests and benchmarks of the camera loop (packages track and access): a
// static background photo of a room at 640x480 with real face photos from
// ../shared/faces pasted onto it, walking in, growing and staying, with
// camera sensor noise on every frame.
package scene
