//! EC2: the AWS client, the `aws_ec2` inventory source and the cluster lifecycle
//! (`rmesos ec2 …`).
//!
//! Owns how rmesos talks to the EC2 API (credentials, region, endpoint, retries, short error
//! lines), how instances become inventory hosts with Ansible's variable and group names, and
//! how a named cluster is launched, found, paused and destroyed with its state kept only in EC2
//! tags. Knows nothing of SSH details or modules: the deploy step hands an ordinary inventory
//! and playbook to the executor.

pub mod cli;
pub mod client;
pub mod cluster;
mod hostvars;
pub mod inventory;

pub use client::{AwsSettings, Ec2Error};
pub use inventory::{AwsEc2Source, load_aws_ec2};
