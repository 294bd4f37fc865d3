#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! rmesos: an agentless configuration engine that runs Ansible-format inventories, playbooks
//! and roles over SSH, and the cluster tooling (EC2, local lab) around it.
//!
//! Layers, top to bottom (arrows point down only): `app` → `ec2`, `lab`, `testbed` → `exec` →
//! `plan`, `report` → `modules`, `inventory` → `vars` → `yaml`, `connection` → `vault`,
//! `vocab`, `error`. The table tests/layers.rs enforces is in
//! ARCHITECTURE.md.

pub mod app;
pub mod connection;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod error;
pub mod exec;
pub mod inventory;
pub mod lab;
pub mod modules;
pub mod plan;
pub mod report;
pub mod testbed;
pub mod vars;
pub mod vault;
pub mod vocab;
pub mod yaml;
