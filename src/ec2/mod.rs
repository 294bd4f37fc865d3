//! EC2: the AWS client, the `aws_ec2` inventory source and the cluster lifecycle (the library
//! under `rmesos ec2 …`, whose command lives in `app::ec2`).
//!
//! Owns how rmesos talks to the EC2 API (credentials, region, endpoint, retries, short error
//! lines), how instances become inventory hosts with Ansible's variable and group names, and
//! how a named cluster is launched, found, paused and destroyed with its state kept only in EC2
//! tags. Knows nothing of SSH details, modules or plays: the application registers the
//! inventory source with the inventory loader and runs the deploy playbook itself.

pub mod client;
pub mod cluster;
mod hostvars;
pub mod inventory;
pub mod keypair;
pub mod state;

pub use client::{AwsSettings, Ec2Error};
pub use inventory::{AwsEc2Source, load_aws_ec2};
