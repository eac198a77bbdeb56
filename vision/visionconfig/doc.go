// Package visionconfig maps the [recognition] section of the configuration
// onto vision.Options, so that package vision (the recognition engine)
// depends on neither the configuration nor the database. cmd/facegate and
// the tests that open a pipeline with the shipped defaults use it.
package visionconfig
