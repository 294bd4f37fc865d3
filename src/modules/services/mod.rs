//! Services: modules that start, stop, enable and restart daemons (service/systemd with its
//! init-system backends, supervisorctl).

pub mod service;
pub mod supervisorctl;
