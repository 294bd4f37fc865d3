//! Utilities: modules that run on the controller or only wait (debug, fail/assert, set_fact,
//! include_vars, pause, ping, wait_for), async_status (the jobs of `poll: 0` tasks) and
//! synchronize (a push over the task's connection).

pub mod async_status;
pub mod debug;
pub mod fail;
pub mod include_vars;
pub mod pause;
pub mod ping;
pub mod set_fact;
pub mod synchronize;
pub mod wait_for;
