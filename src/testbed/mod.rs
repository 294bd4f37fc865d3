//! Hosts for tests and benchmarks, started and stopped by the test process itself: real ones
//! (loopback sshd processes, test users) and scripted ones (in-process answering rules).
//! Owns test infrastructure only; the engine never uses it.

pub mod loopback;
pub mod scripted;
