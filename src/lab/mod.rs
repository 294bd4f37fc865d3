//! The lab: local container hosts for tests and for `rmesos lab`. Owns the Debian base image
//! (built with debootstrap and `docker import`, because no registry can be pulled from), the
//! containers and network of each lab, their SSH key and the inventory that points at them.
//!
//! Knows nothing of plays, modules or the SSH transport: a lab is reached through the inventory
//! it writes, like any other set of hosts (the `rmesos lab` command, in `app`, hands that
//! inventory to `rmesos play`). Docker is driven through its CLI, synchronously: the lab starts
//! before a run and stops after it, never in the hot path, and cleanup must work from `Drop`.

pub mod fixture;
pub mod hosts;
pub mod image;
mod process;

pub use fixture::ContainerHosts;
pub use hosts::{
    DOCKER_CAPABLE, HostSpec, Lab, LabHost, LabMember, LabSpec, list_members, remove_lab,
};
pub use image::{BaseImage, Recipe, ensure_image};
pub use process::LabError;

/// The label every container and network of a lab carries, with the lab's name as its value;
/// cleanup finds them by it, so it needs no state besides the name.
pub const LAB_LABEL: &str = "rmesos.lab";
