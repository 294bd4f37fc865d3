//! Real hosts for tests and benchmarks, started and stopped by the test process itself.
//! Owns test infrastructure only (sshd processes, test users); the engine never uses it.

pub mod loopback;
