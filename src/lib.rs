#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
//! rmesos: an agentless configuration engine that runs Ansible-format inventories, playbooks
//! and roles over SSH, and the cluster tooling (EC2, local lab) around it.
//!
//! Layers, top to bottom (arrows point down only): `cli` → `plan`, `inventory`, `vars` →
//! `exec` → `modules` → `connection`; `report` receives the executor's events. See
//! ARCHITECTURE.md.

pub mod cli;
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
pub mod vocab;
pub mod yaml;
