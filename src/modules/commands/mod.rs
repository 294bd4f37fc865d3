//! Commands: modules that run what the task gives them (command/shell, raw, script). They share
//! one result shape (`rc`, `stdout`, `stderr`, ... and the `creates`/`removes` guards) from
//! [`command`].

pub mod command;
pub mod raw;
pub mod script;
