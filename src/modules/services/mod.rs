//! Services: modules that start, stop, enable and restart daemons (service/systemd with its
//! init-system backends, supervisorctl) and what runs (service_facts).

pub mod service;
pub mod service_facts;
pub mod supervisorctl;
