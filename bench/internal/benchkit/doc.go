// Package benchkit is what the benchmark programs under bench/ share: a
// berth server (and a docker-registry) run as child process groups and
// stopped with SIGTERM, then SIGKILL; the clients the benchmarks talk to
// berth with; a watch tracker that stamps pods and events with their
// arrival; the clean-up stack and Ctrl-C handling; and the helpers of the
// Markdown reports (machine description, percentiles, number formats).
//
// It is for the benchmarks only: errors are returned, never t.Fatal, and
// progress goes to stderr so that stdout holds only the report.
package benchkit
