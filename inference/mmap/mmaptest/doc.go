// Package mmaptest checks, for tests, that a function opening files that
// must be regular refuses a FIFO or a device at once, without reading from
// it or waiting for a writer.
package mmaptest
